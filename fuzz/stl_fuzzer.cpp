// libFuzzer target for parse_stl: any input either throws std::runtime_error or gives a
// mesh that satisfies the RawMesh invariants and reads back unchanged after write_stl.
#include "fuzz/fuzz_support.h"
#include "io/formats/stl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shapediff::io::formats;
  RawMesh mesh;
  try {
    mesh = parse_stl(shapediff::fuzz::as_bytes(data, size), "fuzz.stl");
  } catch (const std::runtime_error&) {
    return 0;
  }
  shapediff::fuzz::check_invariants(mesh);
  const RawMesh again = parse_stl(write_stl(mesh), "round-trip.stl");
  shapediff::fuzz::check_same(mesh, again, /*normals=*/false, /*exact_colors=*/false);
  return 0;
}
