#include "io/formats/zip_archive.h"

#include <gtest/gtest.h>

#include "io_test_support.h"

namespace shapediff::io::formats {
namespace {

using test::Bytes;
using test::throws_naming;

const std::string kName = "archive.npz";

struct Layout {
  bool data_descriptor = false;  // sizes and CRC after the data, flag bit 3
  bool zip64_extra = false;      // central directory sizes/offset in a zip64 extra field
  bool zip64_end = false;        // zip64 end-of-central-directory record and locator
};

// Stored entries laid out as other zip writers do, for the reader's alternative paths.
std::string build_zip(const std::vector<std::pair<std::string, std::string>>& entries,
                      Layout layout) {
  Bytes out;
  Bytes directory;
  for (const auto& [name, data] : entries) {
    const auto offset = static_cast<uint32_t>(out.str().size());
    const uint32_t crc = test::crc32_of(data);
    const auto size = static_cast<uint32_t>(data.size());
    out.put(uint32_t{0x04034b50}).put(uint16_t{45}).put(uint16_t(layout.data_descriptor ? 8 : 0));
    out.put(uint16_t{0}).put(uint16_t{0}).put(uint16_t{0x21});
    if (layout.data_descriptor) {
      out.put(uint32_t{0}).put(uint32_t{0}).put(uint32_t{0});
    } else {
      out.put(crc).put(size).put(size);
    }
    out.put(uint16_t(name.size())).put(uint16_t{0}).text(name).text(data);
    if (layout.data_descriptor) out.put(uint32_t{0x08074b50}).put(crc).put(size).put(size);

    directory.put(uint32_t{0x02014b50}).put(uint16_t{0x031e}).put(uint16_t{45});
    directory.put(uint16_t(layout.data_descriptor ? 8 : 0))
        .put(uint16_t{0})
        .put(uint16_t{0})
        .put(uint16_t{0x21});
    directory.put(crc);
    const uint32_t big = 0xffffffffu;
    directory.put(layout.zip64_extra ? big : size).put(layout.zip64_extra ? big : size);
    directory.put(uint16_t(name.size())).put(uint16_t(layout.zip64_extra ? 28 : 0));
    directory.put(uint16_t{0}).put(uint16_t{0}).put(uint16_t{0}).put(uint32_t{0});
    directory.put(layout.zip64_extra ? big : offset).text(name);
    if (layout.zip64_extra) {
      directory.put(uint16_t{1}).put(uint16_t{24});
      directory.put(uint64_t{size}).put(uint64_t{size}).put(uint64_t{offset});
    }
  }
  const auto cd_offset = static_cast<uint32_t>(out.str().size());
  const auto cd_size = static_cast<uint32_t>(directory.str().size());
  out.text(directory.str());
  if (layout.zip64_end) {
    const auto record = static_cast<uint64_t>(out.str().size());
    out.put(uint32_t{0x06064b50}).put(uint64_t{44}).put(uint16_t{45}).put(uint16_t{45});
    out.put(uint32_t{0})
        .put(uint32_t{0})
        .put(uint64_t(entries.size()))
        .put(uint64_t(entries.size()));
    out.put(uint64_t{cd_size}).put(uint64_t{cd_offset});
    out.put(uint32_t{0x07064b50}).put(uint32_t{0}).put(record).put(uint32_t{1});
  }
  out.put(uint32_t{0x06054b50}).put(uint16_t{0}).put(uint16_t{0});
  const uint16_t count = layout.zip64_end ? 0xffff : uint16_t(entries.size());
  out.put(count).put(count);
  out.put(layout.zip64_end ? 0xffffffffu : cd_size).put(layout.zip64_end ? 0xffffffffu : cd_offset);
  out.put(uint16_t{0});
  return out.str();
}

const std::vector<std::pair<std::string, std::string>> kEntries = {
    {"a.npy", "first entry"},
    {"dir/b.npy", std::string("\0\1\2binary\xff", 10)},
    {"empty.npy", ""}};

void expect_entries(const std::vector<ZipEntry>& got) {
  ASSERT_EQ(got.size(), kEntries.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, kEntries[i].first);
    EXPECT_EQ(got[i].data, kEntries[i].second);
  }
}

std::vector<ZipEntry> as_entries() {
  std::vector<ZipEntry> out;
  for (const auto& [name, data] : kEntries) out.push_back({name, data});
  return out;
}

TEST(ZipArchiveTest, RoundTripsStoredAndDeflated) {
  for (const bool compress : {false, true}) {
    expect_entries(read_zip(write_zip(as_entries(), compress), kName));
  }
  // Compressible data is deflated (method 8 in the local header), incompressible stays stored.
  const std::string zeros(100000, '\0');
  const std::string archive = write_zip({{"z.npy", zeros}}, true);
  EXPECT_LT(archive.size(), 2000u);
  EXPECT_EQ(archive[8], 8);
  EXPECT_EQ(read_zip(archive, kName)[0].data, zeros);
  EXPECT_EQ(write_zip({{"r.npy", test::garbage(1000, 1)}}, true)[8], 0);
  EXPECT_TRUE(read_zip(write_zip({}, true), kName).empty());
}

TEST(ZipArchiveTest, ReadsOtherWritersLayouts) {
  expect_entries(read_zip(build_zip(kEntries, {}), kName));
  expect_entries(read_zip(build_zip(kEntries, {/*data_descriptor=*/true}), kName));
  expect_entries(read_zip(build_zip(kEntries, {false, /*zip64_extra=*/true}), kName));
  expect_entries(read_zip(build_zip(kEntries, {true, true, /*zip64_end=*/true}), kName));
  // An archive comment after the end record.
  std::string commented = build_zip(kEntries, {});
  commented[commented.size() - 2] = 7;
  commented += "comment";
  expect_entries(read_zip(commented, kName));
}

TEST(ZipArchiveTest, UnsupportedFeaturesFail) {
  std::string encrypted = build_zip(kEntries, {});
  const size_t central = encrypted.find("PK\x01\x02");
  encrypted[central + 8] = 1;
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_zip(encrypted, kName); }, kName,
                                                "entry 'a.npy' is encrypted"));
  std::string bzip2 = build_zip(kEntries, {});
  bzip2[central + 10] = 12;
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_zip(bzip2, kName); }, kName,
                                                "compression method 12"));
  std::string split = build_zip(kEntries, {});
  split[split.size() - 22 + 4] = 1;
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_zip(split, kName); }, kName, "multi-disk"));
}

TEST(ZipArchiveTest, CorruptDataFails) {
  std::string bad_crc = build_zip(kEntries, {});
  bad_crc[bad_crc.find("first entry")] = 'F';
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_zip(bad_crc, kName); }, kName, "CRC-32"));

  const std::string deflated = write_zip({{"z.npy", std::string(5000, 'a')}}, true);
  const size_t central = deflated.find("PK\x01\x02");
  std::string wrong_size = deflated;
  wrong_size[central + 24] = 1;  // declared uncompressed size now differs
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_zip(wrong_size, kName); }, kName,
                                                "declared size"));
  std::string bomb = deflated;
  for (int k = 0; k < 4; ++k) bomb[central + 24 + k] = '\xf0';
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_zip(bomb, kName); }, kName,
                                                "beyond deflate's limit"));
  std::string scrambled = deflated;
  for (size_t i = 34; i < 44; ++i) scrambled[i] = '\xff';
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_zip(scrambled, kName); }, kName, "'z.npy'"));

  std::string duplicate = build_zip({{"x.npy", "1"}, {"x.npy", "2"}}, {});
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_zip(duplicate, kName); }, kName,
                                                "duplicate entry 'x.npy'"));
  std::string many = build_zip(kEntries, {});
  many[many.size() - 12] = '\xff';
  many[many.size() - 11] = '\x7f';
  many[many.size() - 14] = '\xff';
  many[many.size() - 13] = '\x7f';
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_zip(many, kName); }, kName,
                                                "claims 32767 entries"));
  std::string far = build_zip(kEntries, {});
  far[far.size() - 4] = '\x7f';
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_zip(far, kName); }, kName,
                                                "outside the archive"));
}

TEST(ZipArchiveTest, TruncatedAndGarbageArchivesFail) {
  const std::string archive = write_zip(as_entries(), true);
  test::expect_truncations_fail(read_zip, archive, kName, archive.size());
  const std::string streamed = build_zip(kEntries, {true, true, true});
  test::expect_truncations_fail(read_zip, streamed, kName, streamed.size());
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string junk = test::garbage(500, seed);
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_zip(junk, kName); }, kName));
  }
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([] { read_zip("PK", kName); }, kName, "not a zip archive"));
}

}  // namespace
}  // namespace shapediff::io::formats
