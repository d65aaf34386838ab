// libFuzzer target for the .npy header parser: any input either throws std::runtime_error or
// gives a header whose data lies inside the input; copying the data out and writing it again
// under a fresh header must read back the same dtype, shape and bytes.
#include <cstring>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "io/formats/npy_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shapediff::io::formats;
  using shapediff::fuzz::require;
  const std::string_view bytes = shapediff::fuzz::as_bytes(data, size);
  NpyHeader header;
  try {
    header = parse_npy_header(bytes, "fuzz.npy");
  } catch (const std::runtime_error&) {
    return 0;
  }
  require(header.data_offset <= size && header.data_bytes <= size - header.data_offset,
          "header data range lies outside the input");
  std::string values(static_cast<size_t>(header.data_bytes), '\0');
  copy_npy_data(header, bytes, values.data());
  const std::string rewritten = npy_header_bytes(header.dtype, header.shape) + values;
  const NpyHeader again = parse_npy_header(rewritten, "round-trip.npy");
  require(again.dtype == header.dtype && again.shape == header.shape && !again.big_endian,
          "round trip changed the dtype or shape");
  require(again.data_offset % 64 == 0, "written data is not 64-byte aligned");
  std::string values_again(static_cast<size_t>(again.data_bytes), '\0');
  copy_npy_data(again, rewritten, values_again.data());
  require(values_again == values, "round trip changed the data");
  return 0;
}
