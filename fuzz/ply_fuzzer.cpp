// libFuzzer target for parse_ply: any input either throws std::runtime_error or gives a
// mesh that satisfies the RawMesh invariants and reads back unchanged after every PLY encoding.
#include "fuzz/fuzz_support.h"
#include "io/formats/ply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shapediff::io::formats;
  RawMesh mesh;
  try {
    mesh = parse_ply(shapediff::fuzz::as_bytes(data, size), "fuzz.ply");
  } catch (const std::runtime_error&) {
    return 0;
  }
  shapediff::fuzz::check_invariants(mesh);
  for (const auto encoding :
       {PlyEncoding::kAscii, PlyEncoding::kBinaryLittleEndian, PlyEncoding::kBinaryBigEndian}) {
    const RawMesh again = parse_ply(write_ply(mesh, encoding), "round-trip.ply");
    shapediff::fuzz::check_same(mesh, again, /*normals=*/true, /*exact_colors=*/false);
  }
  return 0;
}
