// libFuzzer target for the zip reader behind .npz: any input either throws std::runtime_error
// or gives entries that, written again (deflated and stored), read back identical. Members are
// also run through the .npy header parser.
#include <vector>

#include "fuzz/fuzz_support.h"
#include "io/formats/npy_format.h"
#include "io/formats/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shapediff::io::formats;
  using shapediff::fuzz::require;
  std::vector<ZipEntry> entries;
  try {
    entries = read_zip(shapediff::fuzz::as_bytes(data, size), "fuzz.npz");
  } catch (const std::runtime_error&) {
    return 0;
  }
  for (const ZipEntry& entry : entries) {
    try {
      parse_npy_header(entry.data, "fuzz.npz[" + entry.name + "]");
    } catch (const std::runtime_error&) {
    }
  }
  for (const bool compress : {true, false}) {
    std::vector<ZipEntry> again;
    try {
      again = read_zip(write_zip(entries, compress), "round-trip.npz");
    } catch (const std::invalid_argument&) {
      // Names the writer cannot store (empty); the reader accepted them from another writer.
      continue;
    }
    require(again.size() == entries.size(), "round trip changed the entry count");
    for (size_t i = 0; i < entries.size(); ++i) {
      require(again[i].name == entries[i].name && again[i].data == entries[i].data,
              "round trip changed an entry");
    }
  }
  return 0;
}
