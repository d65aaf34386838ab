#include "io/formats/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {

using detail::fail;
using detail::quote_token;

constexpr uint32_t kLocalSignature = 0x04034b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr size_t kLocalHeaderBytes = 30;
constexpr size_t kCentralHeaderBytes = 46;
constexpr size_t kEndBytes = 22;
constexpr uint16_t kMethodStored = 0;
constexpr uint16_t kMethodDeflate = 8;
// Deflate cannot expand data by more than about 1032:1; larger claims are corrupt headers.
constexpr uint64_t kMaxDeflateRatio = 1040;
// zlib takes at most uInt bytes per call.
constexpr uint64_t kZlibChunk = 1u << 30;

uint16_t u16(std::string_view b, size_t at) {
  return detail::load_u16(b.data() + at, detail::ByteOrder::kLittle);
}
uint32_t u32(std::string_view b, size_t at) {
  return detail::load_u32(b.data() + at, detail::ByteOrder::kLittle);
}
uint64_t u64(std::string_view b, size_t at) {
  return detail::load_u64(b.data() + at, detail::ByteOrder::kLittle);
}

struct CentralEntry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0;
  uint64_t uncompressed = 0;
  uint64_t local_offset = 0;
};

struct Directory {
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
};

Directory find_directory(std::string_view bytes, const std::string& name) {
  if (bytes.size() < kEndBytes)
    fail(name, "not a zip archive (" + std::to_string(bytes.size()) + " bytes)");
  const size_t last = bytes.size() - kEndBytes;
  const size_t first = last > 0xffff ? last - 0xffff : 0;
  size_t end = std::string_view::npos;
  for (size_t pos = last + 1; pos-- > first;) {
    if (u32(bytes, pos) == kEndSignature) {
      end = pos;
      break;
    }
  }
  if (end == std::string_view::npos)
    fail(name, "not a zip archive (no end-of-central-directory record)");
  const uint16_t disk = u16(bytes, end + 4);
  const uint16_t directory_disk = u16(bytes, end + 6);
  const uint16_t entries_here = u16(bytes, end + 8);
  Directory dir;
  dir.entries = u16(bytes, end + 10);
  dir.size = u32(bytes, end + 12);
  dir.offset = u32(bytes, end + 16);
  if (disk != 0 || directory_disk != 0 || entries_here != dir.entries) {
    fail(name, "multi-disk (split) zip archives are unsupported");
  }
  if (dir.entries == 0xffff || dir.size == 0xffffffffu || dir.offset == 0xffffffffu) {
    if (end < 20 || u32(bytes, end - 20) != kZip64LocatorSignature) {
      fail(name, "zip64 archive without a zip64 end-of-central-directory locator");
    }
    const uint64_t record = u64(bytes, end - 20 + 8);
    if (record > end - 20 || end - 20 - record < 56 || u32(bytes, record) != kZip64EndSignature) {
      fail(name, "zip64 end-of-central-directory record is missing or corrupt");
    }
    if (u32(bytes, record + 16) != 0 || u32(bytes, record + 20) != 0) {
      fail(name, "multi-disk (split) zip archives are unsupported");
    }
    dir.entries = u64(bytes, record + 32);
    dir.size = u64(bytes, record + 40);
    dir.offset = u64(bytes, record + 48);
    end = record;
  }
  uint64_t directory_end = 0;
  if (!detail::checked_add(dir.offset, dir.size, &directory_end) || directory_end > end) {
    fail(name, "central directory (offset " + std::to_string(dir.offset) + ", " +
                   std::to_string(dir.size) + " bytes) lies outside the archive");
  }
  uint64_t min_size = 0;
  if (!detail::checked_mul(dir.entries, kCentralHeaderBytes, &min_size) || min_size > dir.size) {
    fail(name, "central directory claims " + std::to_string(dir.entries) + " entries in " +
                   std::to_string(dir.size) + " bytes");
  }
  return dir;
}

// Replaces 0xffffffff sizes/offsets with the values of a zip64 extra field (id 1).
void apply_zip64_extra(std::string_view extra, CentralEntry* e, bool offset_in_extra,
                       const std::string& name) {
  size_t pos = 0;
  while (pos + 4 <= extra.size()) {
    const uint16_t id = u16(extra, pos);
    const uint16_t size = u16(extra, pos + 2);
    if (size > extra.size() - pos - 4) break;
    if (id == 1) {
      std::string_view field = extra.substr(pos + 4, size);
      size_t at = 0;
      auto take = [&](uint64_t* value) {
        if (at + 8 > field.size())
          fail(name, "entry " + quote_token(e->name) + " has a short zip64 extra field");
        *value = u64(field, at);
        at += 8;
      };
      if (e->uncompressed == 0xffffffffu) take(&e->uncompressed);
      if (e->compressed == 0xffffffffu) take(&e->compressed);
      if (offset_in_extra) take(&e->local_offset);
      return;
    }
    pos += 4 + size;
  }
  if (e->uncompressed == 0xffffffffu || e->compressed == 0xffffffffu || offset_in_extra) {
    fail(name, "entry " + quote_token(e->name) + " needs a zip64 extra field but has none");
  }
}

std::vector<CentralEntry> read_directory(std::string_view bytes, const Directory& dir,
                                         const std::string& name) {
  std::vector<CentralEntry> entries;
  entries.reserve(static_cast<size_t>(dir.entries));
  size_t pos = static_cast<size_t>(dir.offset);
  const size_t end = static_cast<size_t>(dir.offset + dir.size);
  for (uint64_t i = 0; i < dir.entries; ++i) {
    if (end - pos < kCentralHeaderBytes || u32(bytes, pos) != kCentralSignature) {
      fail(name, "central directory entry " + std::to_string(i) + " is corrupt");
    }
    CentralEntry e;
    e.flags = u16(bytes, pos + 8);
    e.method = u16(bytes, pos + 10);
    e.crc = u32(bytes, pos + 16);
    e.compressed = u32(bytes, pos + 20);
    e.uncompressed = u32(bytes, pos + 24);
    const size_t name_len = u16(bytes, pos + 28);
    const size_t extra_len = u16(bytes, pos + 30);
    const size_t comment_len = u16(bytes, pos + 32);
    const uint16_t start_disk = u16(bytes, pos + 34);
    e.local_offset = u32(bytes, pos + 42);
    if (end - pos - kCentralHeaderBytes < name_len + extra_len + comment_len) {
      fail(name, "central directory entry " + std::to_string(i) + " runs past the directory");
    }
    e.name = std::string(bytes.substr(pos + kCentralHeaderBytes, name_len));
    apply_zip64_extra(bytes.substr(pos + kCentralHeaderBytes + name_len, extra_len), &e,
                      e.local_offset == 0xffffffffu, name);
    if (start_disk != 0 && start_disk != 0xffff) {
      fail(name, "multi-disk (split) zip archives are unsupported");
    }
    entries.push_back(std::move(e));
    pos += kCentralHeaderBytes + name_len + extra_len + comment_len;
  }
  return entries;
}

std::string inflate_entry(std::string_view compressed, uint64_t size, const std::string& entry,
                          const std::string& name) {
  std::string out(static_cast<size_t>(size), '\0');
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) fail(name, "cannot initialise zlib");
  uint64_t in_pos = 0;
  uint64_t out_pos = 0;
  int status = Z_OK;
  bool longer = false;
  while (status == Z_OK) {
    if (stream.avail_in == 0 && in_pos < compressed.size()) {
      const uint64_t n = std::min<uint64_t>(kZlibChunk, compressed.size() - in_pos);
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data() + in_pos));
      stream.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    if (stream.avail_out == 0 && out_pos < size) {
      const uint64_t n = std::min<uint64_t>(kZlibChunk, size - out_pos);
      stream.next_out = reinterpret_cast<Bytef*>(&out[static_cast<size_t>(out_pos)]);
      stream.avail_out = static_cast<uInt>(n);
      out_pos += n;
    }
    if (stream.avail_out == 0) {
      // All declared bytes are out: the stream must end here without producing more.
      unsigned char probe = 0;
      stream.next_out = &probe;
      stream.avail_out = 1;
      status = inflate(&stream, Z_NO_FLUSH);
      longer = stream.avail_out == 0;
      break;
    }
    status = inflate(&stream, Z_NO_FLUSH);
    if (status == Z_BUF_ERROR && (stream.avail_in > 0 || in_pos < compressed.size())) status = Z_OK;
  }
  const uint64_t produced = stream.total_out;
  const std::string zlib_message = stream.msg != nullptr ? stream.msg : "";
  inflateEnd(&stream);
  const std::string what = "entry " + quote_token(entry) + ": ";
  if (longer) {
    fail(name, what + "deflate data is longer than the declared size " + std::to_string(size));
  }
  if (status == Z_STREAM_END && produced != size) {
    fail(name, what + "deflate data ends after " + std::to_string(produced) +
                   " bytes, short of the declared size " + std::to_string(size));
  }
  if (status == Z_BUF_ERROR) fail(name, what + "deflate data is truncated");
  if (status != Z_STREAM_END) {
    fail(name,
         what + "corrupt deflate data" + (zlib_message.empty() ? "" : " (" + zlib_message + ")"));
  }
  return out;
}

uint32_t crc_of(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kZlibChunk, data.size() - pos));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + pos), static_cast<uInt>(n));
    pos += n;
  }
  return static_cast<uint32_t>(crc);
}

std::string deflate_data(std::string_view data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::runtime_error("zip output: cannot initialise zlib");
  }
  std::string out;
  uint64_t in_pos = 0;
  int status = Z_OK;
  char buffer[1 << 16];
  while (status != Z_STREAM_END) {
    if (stream.avail_in == 0 && in_pos < data.size()) {
      const uint64_t n = std::min<uint64_t>(kZlibChunk, data.size() - in_pos);
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_pos));
      stream.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    status = deflate(&stream, in_pos == data.size() ? Z_FINISH : Z_NO_FLUSH);
    if (status == Z_STREAM_ERROR) {
      deflateEnd(&stream);
      throw std::runtime_error("zip output: deflate failed");
    }
    out.append(buffer, sizeof(buffer) - stream.avail_out);
  }
  deflateEnd(&stream);
  return out;
}

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

std::vector<ZipEntry> read_zip(std::string_view bytes, const std::string& name) {
  const Directory dir = find_directory(bytes, name);
  const std::vector<CentralEntry> central = read_directory(bytes, dir, name);
  std::vector<ZipEntry> entries;
  entries.reserve(central.size());
  std::set<std::string> seen;
  for (const CentralEntry& e : central) {
    const std::string what = "entry " + quote_token(e.name);
    if (!seen.insert(e.name).second) fail(name, "duplicate " + what);
    if (e.flags & 0x41) fail(name, what + " is encrypted (unsupported)");
    if (e.method != kMethodStored && e.method != kMethodDeflate) {
      fail(name, what + " uses compression method " + std::to_string(e.method) +
                     " (accepted: 0 stored, 8 deflate)");
    }
    if (e.local_offset > bytes.size() || bytes.size() - e.local_offset < kLocalHeaderBytes ||
        u32(bytes, static_cast<size_t>(e.local_offset)) != kLocalSignature) {
      fail(name, what + " has no local header at offset " + std::to_string(e.local_offset));
    }
    const size_t local = static_cast<size_t>(e.local_offset);
    if (u16(bytes, local + 6) & 0x41) fail(name, what + " is encrypted (unsupported)");
    const uint64_t data_start =
        e.local_offset + kLocalHeaderBytes + u16(bytes, local + 26) + u16(bytes, local + 28);
    if (data_start > bytes.size() || bytes.size() - data_start < e.compressed) {
      fail(name, what + " is truncated: " + std::to_string(e.compressed) +
                     " compressed bytes do not fit in the archive");
    }
    const std::string_view raw =
        bytes.substr(static_cast<size_t>(data_start), static_cast<size_t>(e.compressed));
    ZipEntry out;
    out.name = e.name;
    if (e.method == kMethodStored) {
      if (e.compressed != e.uncompressed) {
        fail(name, what + " is stored but its sizes differ (" + std::to_string(e.compressed) +
                       " vs " + std::to_string(e.uncompressed) + ")");
      }
      out.data = std::string(raw);
    } else {
      uint64_t limit = 0;
      if (!detail::checked_mul(e.compressed, kMaxDeflateRatio, &limit) ||
          e.uncompressed > limit + 1024) {
        fail(name, what + " claims " + std::to_string(e.uncompressed) + " bytes from " +
                       std::to_string(e.compressed) + " deflated bytes, beyond deflate's limit");
      }
      out.data = inflate_entry(raw, e.uncompressed, e.name, name);
    }
    if (crc_of(out.data) != e.crc) fail(name, what + " fails its CRC-32 check (corrupt data)");
    entries.push_back(std::move(out));
  }
  return entries;
}

std::string write_zip(const std::vector<ZipEntry>& entries, bool compress) {
  if (entries.size() > 0xffff) {
    throw std::invalid_argument("zip output: " + std::to_string(entries.size()) +
                                " entries exceed the 65535 of a non-zip64 archive");
  }
  std::string out;
  std::string directory;
  for (const ZipEntry& entry : entries) {
    if (entry.name.empty() || entry.name.size() > 0xffff) {
      throw std::invalid_argument("zip output: entry names must have 1 to 65535 bytes");
    }
    const uint32_t crc = crc_of(entry.data);
    uint16_t method = kMethodStored;
    std::string deflated;
    if (compress) {
      deflated = deflate_data(entry.data);
      if (deflated.size() < entry.data.size()) method = kMethodDeflate;
    }
    const std::string_view payload =
        method == kMethodDeflate ? std::string_view(deflated) : std::string_view(entry.data);
    const uint64_t limit = 0xfffffffeu;
    if (entry.data.size() > limit || payload.size() > limit || out.size() > limit) {
      throw std::invalid_argument("zip output: entry " + quote_token(entry.name) +
                                  " exceeds the 4 GiB of a non-zip64 archive");
    }
    const uint16_t flags = is_ascii(entry.name) ? 0 : 0x0800;  // bit 11: UTF-8 name
    const auto offset = static_cast<uint32_t>(out.size());
    auto common = [&](std::string* s) {
      detail::append_u16_le(s, 20);  // version needed: 2.0
      detail::append_u16_le(s, flags);
      detail::append_u16_le(s, method);
      detail::append_u16_le(s, 0);     // time 00:00:00
      detail::append_u16_le(s, 0x21);  // date 1980-01-01
      detail::append_u32_le(s, crc);
      detail::append_u32_le(s, static_cast<uint32_t>(payload.size()));
      detail::append_u32_le(s, static_cast<uint32_t>(entry.data.size()));
      detail::append_u16_le(s, static_cast<uint16_t>(entry.name.size()));
      detail::append_u16_le(s, 0);  // extra field length
    };
    detail::append_u32_le(&out, kLocalSignature);
    common(&out);
    out += entry.name;
    out.append(payload.data(), payload.size());

    detail::append_u32_le(&directory, kCentralSignature);
    detail::append_u16_le(&directory, 0x0314);  // made by: unix, 2.0
    common(&directory);
    detail::append_u16_le(&directory, 0);               // comment length
    detail::append_u16_le(&directory, 0);               // disk
    detail::append_u16_le(&directory, 0);               // internal attributes
    detail::append_u32_le(&directory, 0100644u << 16);  // rw-r--r-- regular file
    detail::append_u32_le(&directory, offset);
    directory += entry.name;
  }
  if (out.size() > 0xfffffffeu || directory.size() > 0xfffffffeu) {
    throw std::invalid_argument("zip output: archive exceeds the 4 GiB of a non-zip64 archive");
  }
  const auto directory_offset = static_cast<uint32_t>(out.size());
  out += directory;
  detail::append_u32_le(&out, kEndSignature);
  detail::append_u16_le(&out, 0);
  detail::append_u16_le(&out, 0);
  detail::append_u16_le(&out, static_cast<uint16_t>(entries.size()));
  detail::append_u16_le(&out, static_cast<uint16_t>(entries.size()));
  detail::append_u32_le(&out, static_cast<uint32_t>(directory.size()));
  detail::append_u32_le(&out, directory_offset);
  detail::append_u16_le(&out, 0);
  return out;
}

}  // namespace shapediff::io::formats
