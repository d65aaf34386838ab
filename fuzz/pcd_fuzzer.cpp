// libFuzzer target for parse_pcd: any input either throws std::runtime_error or gives a
// mesh that satisfies the RawMesh invariants and reads back unchanged after write_pcd.
#include "fuzz/fuzz_support.h"
#include "io/formats/pcd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shapediff::io::formats;
  RawMesh mesh;
  try {
    mesh = parse_pcd(shapediff::fuzz::as_bytes(data, size), "fuzz.pcd");
  } catch (const std::runtime_error&) {
    return 0;
  }
  shapediff::fuzz::check_invariants(mesh);
  const RawMesh again = parse_pcd(write_pcd(mesh), "round-trip.pcd");
  shapediff::fuzz::check_same(mesh, again, /*normals=*/true, /*exact_colors=*/false);
  return 0;
}
