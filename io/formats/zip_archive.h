// Minimal ZIP archive reading and writing on bytes (what .npz files are), without torch.
//
// Reading walks the central directory (so entries whose local headers are followed by data
// descriptors read the same as those that are not), accepts stored (method 0) and deflate
// (method 8) entries, zip64 extra fields and the zip64 end-of-central-directory record, and
// checks every entry's CRC-32. Encrypted entries, other compression methods, multi-disk
// archives and duplicate names are rejected with a one-line error. Writing produces a plain
// (non-zip64) archive: at most 65535 entries, each below 4 GiB.
//
//   std::vector<ZipEntry> entries = read_zip(bytes, "arrays.npz");
//   std::string archive = write_zip(entries, /*compress=*/true);
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shapediff::io::formats {

struct ZipEntry {
  std::string name;
  std::string data;
};

// Throws std::runtime_error "<name>: <problem>" for a malformed or unsupported archive.
std::vector<ZipEntry> read_zip(std::string_view bytes, const std::string& name);

// Deflate when `compress` (kept stored when deflate does not make an entry smaller), else
// stored. Throws std::invalid_argument for archives beyond the non-zip64 limits.
std::string write_zip(const std::vector<ZipEntry>& entries, bool compress);

}  // namespace shapediff::io::formats
