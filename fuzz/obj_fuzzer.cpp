// libFuzzer target for parse_obj: any input either throws std::runtime_error or gives a
// mesh that satisfies the RawMesh invariants and reads back unchanged after write_obj.
#include "fuzz/fuzz_support.h"
#include "io/formats/obj.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shapediff::io::formats;
  RawMesh mesh;
  try {
    mesh = parse_obj(shapediff::fuzz::as_bytes(data, size), "fuzz.obj");
  } catch (const std::runtime_error&) {
    return 0;
  }
  shapediff::fuzz::check_invariants(mesh);
  const RawMesh again = parse_obj(write_obj(mesh), "round-trip.obj");
  shapediff::fuzz::check_same(mesh, again, /*normals=*/true, /*exact_colors=*/true);
  return 0;
}
