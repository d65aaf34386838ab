// libFuzzer target for parse_xyz: any input either throws std::runtime_error or gives a
// mesh that satisfies the RawMesh invariants and reads back unchanged after write_xyz.
#include "fuzz/fuzz_support.h"
#include "io/formats/xyz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shapediff::io::formats;
  RawMesh mesh;
  try {
    mesh = parse_xyz(shapediff::fuzz::as_bytes(data, size), "fuzz.xyz");
  } catch (const std::runtime_error&) {
    return 0;
  }
  shapediff::fuzz::check_invariants(mesh);
  const RawMesh again = parse_xyz(write_xyz(mesh), "round-trip.xyz");
  shapediff::fuzz::check_same(mesh, again, /*normals=*/true, /*exact_colors=*/false);
  return 0;
}
