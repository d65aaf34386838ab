// A number as the short text error messages show: the stream's default six significant digits,
// so 0.1 reads "0.1" and 1e-05 "1e-05" (std::to_string would print "0.100000" and "0.000010").
//   throw std::invalid_argument("lr = " + number_text(lr) + " (must be > 0)");
#pragma once

#include <sstream>
#include <string>

namespace shapediff::diffusion {

inline std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace shapediff::diffusion
