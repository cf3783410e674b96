// GGUF reader, writer and summary: round trips, the golden files, and malformed input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "runtime/gguf/gguf.h"

namespace fs = std::filesystem;
using tern::GgmlType;
using namespace tern::gguf;

namespace {

const std::string kDataDir = TERN_TEST_DATA_DIR;

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs fn, which must throw tern::Error whose message contains every one of `parts`.
// Returns the message for further checks.
std::string expect_error(const std::function<void()>& fn, std::vector<std::string> parts) {
  try {
    fn();
  } catch (const tern::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message should be one line: " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected tern::Error, got " << typeid(e).name() << ": " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected tern::Error, nothing was thrown";
  return {};
}

std::string parse_error(const std::vector<uint8_t>& bytes, std::vector<std::string> parts) {
  return expect_error([&] { File::parse(bytes); }, std::move(parts));
}

// Hand-built GGUF bytes, for versions and faults the Writer refuses to produce.
struct Bytes {
  std::vector<uint8_t> b;

  template <class T>
  Bytes& put(T v) {
    const size_t old = b.size();
    b.resize(old + sizeof(T));
    std::memcpy(b.data() + old, &v, sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return u32(0x46554747u /* "GGUF" */).u32(version).u64(n_tensors).u64(n_kv);
  }
  Bytes& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  Bytes& kv_str(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  Bytes& tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  // Pads to `alignment` and appends `data_bytes` zero bytes of tensor data.
  Bytes& data(uint64_t data_bytes, uint64_t alignment = 32) {
    while (b.size() % alignment) b.push_back(0);
    b.resize(b.size() + data_bytes);
    return *this;
  }
};

// A scratch directory per test, removed afterwards.
class GgufFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tern_gguf_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  size_t files_in_dir() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

}  // namespace

// ---------- round trips ----------

TEST_F(GgufFiles, GgufRoundTripEveryScalarType) {
  const std::vector<std::pair<std::string, Value>> kvs = {
      {"t.u8", uint8_t{200}},
      {"t.i8", int8_t{-100}},
      {"t.u16", uint16_t{60000}},
      {"t.i16", int16_t{-30000}},
      {"t.u32", uint32_t{4000000000u}},
      {"t.i32", int32_t{-2000000000}},
      {"t.f32", 1e-5f},
      {"t.bool_true", true},
      {"t.bool_false", false},
      {"t.string", std::string("h\xc3\xa9llo \"w\"\n")},
      {"t.empty_string", std::string()},
      {"t.u64", uint64_t{18000000000000000000ull}},
      {"t.i64", int64_t{-9000000000000000000ll}},
      {"t.f64", 3.141592653589793},
  };
  {
    Writer w(path("scalars.gguf"));
    for (const auto& [k, v] : kvs) w.set(k, v);
    w.finish();
  }
  const File f = File::open(path("scalars.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].key, kvs[i].first) << "file order is kept";
    EXPECT_EQ(f.metadata()[i].value, kvs[i].second) << kvs[i].first;
  }
  // The variant index is the GGUF type id.
  EXPECT_EQ(f.find("t.u8")->type(), ValueType::U8);
  EXPECT_EQ(f.find("t.i16")->type(), ValueType::I16);
  EXPECT_EQ(f.find("t.f32")->type(), ValueType::F32);
  EXPECT_EQ(f.find("t.bool_true")->type(), ValueType::Bool);
  EXPECT_EQ(f.find("t.string")->type(), ValueType::String);
  EXPECT_EQ(f.find("t.u64")->type(), ValueType::U64);
  EXPECT_EQ(f.find("t.f64")->type(), ValueType::F64);
  EXPECT_EQ(f.get_u32("t.u8"), 200u);
  EXPECT_EQ(f.get_i64("t.i8"), -100);
  EXPECT_EQ(f.get_u32("t.u32"), 4000000000u);
  EXPECT_EQ(f.get_u64("t.u64"), 18000000000000000000ull);
  EXPECT_EQ(f.get_i64("t.i64"), -9000000000000000000ll);
  EXPECT_FLOAT_EQ(f.get_f32("t.f32"), 1e-5f);
  EXPECT_DOUBLE_EQ(f.get_f64("t.f64"), 3.141592653589793);
  EXPECT_TRUE(f.get_bool("t.bool_true"));
  EXPECT_FALSE(f.get_bool("t.bool_false"));
  EXPECT_EQ(f.get_string("t.string"), "h\xc3\xa9llo \"w\"\n");
  EXPECT_EQ(f.get_string("t.empty_string"), "");
  EXPECT_TRUE(f.tensors().empty());
}

TEST_F(GgufFiles, GgufRoundTripArraysIncludingNestedAndEmpty) {
  std::vector<std::pair<std::string, Array>> arrays = {
      {"a.u8", Array(std::vector<uint8_t>{0, 1, 255})},
      {"a.i8", Array(std::vector<int8_t>{-128, 0, 127})},
      {"a.u16", Array(std::vector<uint16_t>{1, 65535})},
      {"a.i16", Array(std::vector<int16_t>{-32768, 32767})},
      {"a.u32", Array(std::vector<uint32_t>{1, 2, 4294967295u})},
      {"a.i32", Array(std::vector<int32_t>{-1, 0, 1})},
      {"a.f32", Array(std::vector<float>{0.5f, -0.0f, 1e30f})},
      {"a.bool", Array(std::vector<bool>{true, false, true})},
      {"a.string", Array(std::vector<std::string>{"", "a", "\xe2\x96\x81hello", std::string(300, 'x')})},
      {"a.u64", Array(std::vector<uint64_t>{0, ~0ull})},
      {"a.i64", Array(std::vector<int64_t>{-1, 1ll << 62})},
      {"a.f64", Array(std::vector<double>{1.5, -2.25})},
      {"a.empty_u32", Array::empty_of(ValueType::U32)},
      {"a.empty_string", Array::empty_of(ValueType::String)},
      {"a.empty_nested", Array::empty_of(ValueType::Array)},
      {"a.nested",
       Array(std::vector<Array>{Array(std::vector<int32_t>{1, 2}), Array(std::vector<std::string>{"x", "y"}),
                                Array::empty_of(ValueType::F64),
                                Array(std::vector<Array>{Array(std::vector<uint8_t>{7})})})},
  };
  {
    Writer w(path("arrays.gguf"));
    for (const auto& [k, a] : arrays) w.set(k, a);
    w.finish();
  }
  const File f = File::open(path("arrays.gguf"));
  ASSERT_EQ(f.metadata().size(), arrays.size());
  for (const auto& [k, a] : arrays) {
    const Value* v = f.find(k);
    ASSERT_NE(v, nullptr) << k;
    ASSERT_EQ(v->type(), ValueType::Array);
    EXPECT_EQ(v->get_if<Array>()->element_type(), a.element_type()) << k;
    EXPECT_EQ(*v->get_if<Array>(), a) << k;
  }
  EXPECT_EQ(f.get_string_array("a.string").at(2), "\xe2\x96\x81hello");
  EXPECT_EQ(f.get_i32_array("a.u8"), (std::vector<int32_t>{0, 1, 255}));
  EXPECT_EQ(f.get_i64_array("a.i32"), (std::vector<int64_t>{-1, 0, 1}));
  EXPECT_EQ(f.get_u32_array("a.u16"), (std::vector<uint32_t>{1, 65535}));
  EXPECT_EQ(f.get_f32_array("a.f64"), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_TRUE(f.get_array("a.empty_string").empty());
  EXPECT_EQ(f.get_array("a.empty_nested").element_type(), ValueType::Array);
}

TEST_F(GgufFiles, GgufRoundTripTensorsWrittenInChunks) {
  struct Decl {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> dims;
    uint64_t bytes;
  };
  const std::vector<Decl> decls = {
      {"norm", GgmlType::F32, {7}, 28},  // 28 bytes: the next tensor needs padding
      {"proj", GgmlType::TQ2_0, {256, 3}, 3 * 66},
      {"i2s", GgmlType::I2_S, {128, 2}, 128 * 2 / 4 + 32},
      {"emb", GgmlType::Q6_K, {256, 2, 1, 1}, 2 * 210},
  };
  std::vector<std::vector<uint8_t>> data;
  {
    Writer w(path("t.gguf"));
    w.set("general.architecture", "test");
    for (const auto& d : decls) w.add_tensor(d.name, d.type, d.dims);
    w.write_header();
    for (size_t i = 0; i < decls.size(); ++i) {
      EXPECT_EQ(w.tensors()[i].bytes, decls[i].bytes);
      EXPECT_EQ(w.tensors()[i].offset % 32, 0u);
      data.push_back(pattern(decls[i].bytes, static_cast<uint8_t>(i * 31)));
      // Uneven chunks, including an empty one.
      const auto& bytes = data.back();
      size_t pos = 0;
      for (size_t chunk : {size_t{5}, size_t{0}, size_t{17}, size_t{1000}}) {
        const size_t n = std::min(chunk, bytes.size() - pos);
        w.write_tensor(decls[i].name, bytes.data() + pos, n);
        pos += n;
      }
      ASSERT_EQ(pos, bytes.size());
    }
    w.finish();
    EXPECT_FALSE(fs::exists(w.temp_path()));
  }
  EXPECT_EQ(files_in_dir(), 1u) << "only the output, no temp file";

  const File f = File::open(path("t.gguf"));
  EXPECT_EQ(f.get_string("general.architecture"), "test");
  ASSERT_EQ(f.tensors().size(), decls.size());
  EXPECT_EQ(f.data_offset() % 32, 0u);
  for (size_t i = 0; i < decls.size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.name, decls[i].name);
    EXPECT_EQ(t.type, decls[i].type);
    EXPECT_EQ(std::vector<uint64_t>(t.dims().begin(), t.dims().end()), decls[i].dims);
    EXPECT_EQ(t.bytes, decls[i].bytes);
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_EQ(t.file_offset, f.data_offset() + t.offset);
    EXPECT_EQ(t.data, f.bytes().data() + t.file_offset);
    EXPECT_TRUE(std::equal(data[i].begin(), data[i].end(), t.span().begin())) << t.name;
    EXPECT_EQ(f.find_tensor(t.name), &t);
  }
  EXPECT_EQ(f.tensors()[1].offset, 32u) << "28-byte tensor padded to the alignment";
  EXPECT_EQ(f.find_tensor("missing"), nullptr);
  expect_error([&] { f.tensor("missing"); }, {"t.gguf", "'missing'"});
  // Parsing the same bytes from memory gives the same result.
  const File m = File::parse(f.bytes());
  EXPECT_EQ(m.name(), "<memory>");
  EXPECT_EQ(m.tensors().size(), f.tensors().size());
}

TEST_F(GgufFiles, GgufAlignment64) {
  {
    Writer w(path("a64.gguf"));
    w.set_alignment(64);
    w.add_tensor("a", GgmlType::F32, {3});
    w.add_tensor("b", GgmlType::F16, {5, 2});
    w.write_tensor("a", pattern(12, 1));
    w.write_tensor("b", pattern(20, 2));
    w.finish();
  }
  const File f = File::open(path("a64.gguf"));
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.get_u32("general.alignment"), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.tensors()[1].offset, 64u);
  EXPECT_EQ(f.size() % 64, 0u) << "the last tensor is padded too, as ggml writes it";
}

TEST(GgufReader, GgufBadAlignmentRejected) {
  for (uint32_t bad : {0u, 3u, 48u}) {
    Bytes b;
    b.header(0, 1).kv_u32("general.alignment", bad);
    parse_error(b.b, {"<memory>", "offset 24", "general.alignment", std::to_string(bad), "power of two"});
  }
  Bytes s;
  s.header(0, 1).kv_str("general.alignment", "32");
  parse_error(s.b, {"general.alignment", "expected uint32, found string"});
  // Any integer type that holds a power of two is accepted.
  Bytes u8;
  u8.header(0, 1).str("general.alignment").u32(0).u8(16);
  EXPECT_EQ(File::parse(u8.b).alignment(), 16u);
}

TEST(GgufReader, GgufVersion2ParsesByHand) {
  Bytes b;
  b.header(1, 3, /*version=*/2)
      .kv_str("general.architecture", "bitnet")
      .kv_u32("bitnet.embedding_length", 256)
      .str("tokens")
      .u32(9)
      .u32(8)
      .u64(2)
      .str("a")
      .str("bc")
      .tensor("w", {256, 2}, 35 /* TQ2_0 */, 0)
      .data(2 * 66);
  const File f = File::parse(b.b, "v2.gguf");
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.name(), "v2.gguf");
  EXPECT_EQ(f.get_string("general.architecture"), "bitnet");
  EXPECT_EQ(f.get_u32("bitnet.embedding_length"), 256u);
  EXPECT_EQ(f.get_string_array("tokens"), (std::vector<std::string>{"a", "bc"}));
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.tensors()[0].type, GgmlType::TQ2_0);
  EXPECT_EQ(f.tensors()[0].bytes, 132u);
  EXPECT_EQ(f.data_offset() + 132, f.size());
}

TEST(GgufReader, GgufHeaderErrors) {
  parse_error({}, {"offset 0", "magic", "truncated"});
  Bytes magic;
  magic.b = {'G', 'G', 'M', 'L', 3, 0, 0, 0};
  parse_error(magic.b, {"offset 0", "magic", "not a GGUF file"});
  for (uint32_t v : {1u, 4u, 0x03000000u}) {
    Bytes b;
    b.header(0, 0, v);
    const std::string msg = parse_error(b.b, {"offset 4", "version", "expected 2 or 3"});
    if (v == 1) {
      EXPECT_NE(msg.find("v1"), std::string::npos) << msg;
    }
    if (v == 0x03000000u) {
      EXPECT_NE(msg.find("big-endian"), std::string::npos) << msg;
    }
  }
}

TEST_F(GgufFiles, GgufOpenErrors) {
  expect_error([&] { File::open(path("absent.gguf")); }, {"absent.gguf", "cannot open", "No such file"});
  expect_error([&] { File::open(dir_.string()); }, {"not a regular file"});
  std::ofstream(path("empty.gguf")).close();
  expect_error([&] { File::open(path("empty.gguf")); }, {"empty.gguf", "offset 0", "magic"});
}

// ---------- getters ----------

TEST(GgufReader, GgufTypedGettersNameTheKey) {
  Bytes b;
  b.header(0, 6)
      .kv_str("s", "text")
      .str("neg")
      .u32(5)
      .put<int32_t>(-1)
      .str("big")
      .u32(10)
      .u64(1ull << 40)
      .str("f64")
      .u32(12)
      .put<double>(0.25)
      .str("flag")
      .u32(7)
      .u8(1)
      .str("ints")
      .u32(9)
      .u32(11)
      .u64(2)
      .put<int64_t>(1)
      .put<int64_t>(1ll << 40);
  const File f = File::parse(b.b, "g.gguf");
  expect_error([&] { f.get_u32("s"); },
               {"g.gguf", "'s'", "offset 24", "expected an integer that fits uint32", "found string"});
  expect_error([&] { f.get_u32("neg"); }, {"'neg'", "uint32", "int32 -1"});
  EXPECT_EQ(f.get_i32("neg"), -1);
  expect_error([&] { f.get_u32("big"); }, {"'big'", "uint64 1099511627776"});
  EXPECT_EQ(f.get_u64("big"), 1ull << 40);
  EXPECT_FLOAT_EQ(f.get_f32("f64"), 0.25f);
  expect_error([&] { f.get_f32("neg"); }, {"'neg'", "float32 or float64"});
  expect_error([&] { f.get_string("flag"); }, {"'flag'", "expected string", "found bool"});
  expect_error([&] { f.get_bool("missing"); }, {"g.gguf", "'missing'", "missing"});
  expect_error([&] { f.get_string_array("ints"); }, {"'ints'", "array of string", "array of int64"});
  expect_error([&] { f.get_i32_array("ints"); }, {"'ints'", "element 1", "does not fit int32"});
  EXPECT_EQ(f.get_i64_array("ints"), (std::vector<int64_t>{1, 1ll << 40}));
  // Fallbacks apply only to missing keys.
  EXPECT_EQ(f.get_u32("missing", 7u), 7u);
  EXPECT_EQ(f.get_string("missing", "dflt"), "dflt");
  EXPECT_FLOAT_EQ(f.get_f32("missing", 2.5f), 2.5f);
  EXPECT_TRUE(f.get_bool("flag", false));
  expect_error([&] { f.get_u32("s", 1u); }, {"'s'"});
  EXPECT_EQ(f.find("missing"), nullptr);
}

// ---------- golden files ----------

namespace {

struct Golden {
  std::string file;
  const char* embd_type;
  const char* proj_type;
};

// Shapes follow from the hyperparameters in tests/data/README (n_embd 256, n_ff 768,
// 4 heads of 64, 2 KV heads, vocab 1024), in ggml order (row length first).
std::vector<uint64_t> expected_dims(const std::string& name) {
  const std::pair<const char*, std::vector<uint64_t>> table[] = {
      {"token_embd.weight", {256, 1024}}, {"output_norm.weight", {256}},   {"attn_norm.weight", {256}},
      {"attn_q.weight", {256, 256}},      {"attn_k.weight", {256, 128}},   {"attn_v.weight", {256, 128}},
      {"attn_output.weight", {256, 256}}, {"attn_sub_norm.weight", {256}}, {"ffn_norm.weight", {256}},
      {"ffn_gate.weight", {256, 768}},    {"ffn_up.weight", {256, 768}},   {"ffn_down.weight", {768, 256}},
      {"ffn_sub_norm.weight", {768}},
  };
  for (const auto& [suffix, dims] : table) {
    const std::string s = suffix;
    if (name == s || (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
                      name[name.size() - s.size() - 1] == '.'))
      return dims;
  }
  return {};
}

class GgufGolden : public ::testing::TestWithParam<Golden> {};

}  // namespace

TEST_P(GgufGolden, GgufGoldenFileParses) {
  const Golden& g = GetParam();
  const File f = File::open(kDataDir + "/" + g.file);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.get_string("general.architecture"), "bitnet");
  EXPECT_EQ(f.get_u32("bitnet.embedding_length"), 256u);
  EXPECT_EQ(f.get_u32("bitnet.feed_forward_length"), 768u);
  EXPECT_EQ(f.get_u32("bitnet.block_count"), 2u);
  EXPECT_EQ(f.get_u32("bitnet.attention.head_count"), 4u);
  EXPECT_EQ(f.get_u32("bitnet.attention.head_count_kv"), 2u);
  EXPECT_EQ(f.get_u32("bitnet.context_length"), 256u);
  EXPECT_FLOAT_EQ(f.get_f32("bitnet.rope.freq_base"), 500000.0f);
  EXPECT_FLOAT_EQ(f.get_f32("bitnet.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "llama-bpe");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 1024u);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens")[1008], "<|begin_of_text|>");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges").size(), 752u);
  EXPECT_EQ(f.get_i32_array("tokenizer.ggml.token_type").size(), 1024u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id"), 1008u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.eos_token_id"), 1009u);
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token"));

  ASSERT_EQ(f.tensors().size(), 24u);
  uint64_t data_end = 0;
  for (const TensorInfo& t : f.tensors()) {
    const bool projection = t.name.find("norm") == std::string::npos && t.name != "token_embd.weight";
    const char* want = t.name == "token_embd.weight" ? g.embd_type : projection ? g.proj_type : "F32";
    EXPECT_EQ(tern::ggml_type_name(t.type), want) << t.name;
    EXPECT_EQ(std::vector<uint64_t>(t.dims().begin(), t.dims().end()), expected_dims(t.name)) << t.name;
    data_end = std::max(data_end, t.file_offset + t.bytes);
  }
  EXPECT_LE(data_end, f.size());
  EXPECT_GE(data_end + f.alignment(), f.size());

  // The golden json beside each file lists every tensor's type by name.
  std::ifstream json_in(kDataDir + "/" + g.file.substr(0, g.file.size() - 5) + ".json");
  if (json_in) {
    const auto j = nlohmann::json::parse(json_in);
    size_t checked = 0;
    for (const auto& [name, type] : j.at("tensor_type_by_name").items()) {
      const std::string want = type.get<std::string>().substr(0, type.get<std::string>().find('('));
      EXPECT_EQ(tern::ggml_type_name(f.tensor(name).type), want) << name;
      ++checked;
    }
    EXPECT_EQ(checked, 24u);
    EXPECT_EQ(j.at("model_bytes").get<uint64_t>(), f.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Gguf, GgufGolden,
                         ::testing::Values(Golden{"tiny-bitnet-tq2_0.gguf", "Q6_K", "TQ2_0"},
                                           Golden{"tiny-bitnet-i2_s.gguf", "F16", "I2_S"},
                                           Golden{"tiny-bitnet-tq1_0.gguf", "Q6_K", "TQ1_0"},
                                           Golden{"tiny-bitnet-tq2_0-embf16.gguf", "F16", "TQ2_0"},
                                           Golden{"tiny-bitnet-f16.gguf", "F16", "F16"}),
                         [](const auto& info) {
                           std::string s = info.param.file.substr(12, info.param.file.size() - 17);
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

// The real llama3 vocabulary (128256 tokens, 280147 merges, no tensors).
TEST(GgufGoldenDetails, GgufLlama3VocabParsesQuickly) {
  const std::string path = kDataDir + "/ggml-vocab-llama-bpe.gguf";
  if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
  const auto start = std::chrono::steady_clock::now();
  const File f = File::open(path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 0.5);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 128256u);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges").size(), 280147u);
  EXPECT_EQ(f.get_i32_array("tokenizer.ggml.token_type").size(), 128256u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id"), 128000u);
  EXPECT_TRUE(f.tensors().empty());
  // No padding after a tensor-less table: the data section would start past the end.
  EXPECT_GT(f.data_offset(), f.size());
  RecordProperty("parse_ms", std::to_string(seconds * 1000));
}

TEST(GgufGoldenDetails, GgufI2sSizesFollowBitnetCpp) {
  const File f = File::open(kDataDir + "/tiny-bitnet-i2_s.gguf");
  EXPECT_EQ(f.tensor("blk.0.attn_q.weight").bytes, 256u * 256 / 4 + 32);
  EXPECT_EQ(f.tensor("blk.0.ffn_down.weight").bytes, 768u * 256 / 4 + 32);
  EXPECT_EQ(f.tensor("token_embd.weight").bytes, 256u * 1024 * 2);
}

TEST_F(GgufFiles, GgufRewriteOfGoldenFileIsByteIdentical) {
  // Same metadata, same tensors, same order through the Writer: llama.cpp's layout (aligned
  // data section, each tensor padded to the alignment) gives the same bytes.
  const std::string src = kDataDir + "/tiny-bitnet-tq2_0.gguf";
  const File f = File::open(src);
  {
    Writer w(path("copy.gguf"));
    for (const KeyValue& kv : f.metadata()) w.set(kv.key, kv.value);
    for (const TensorInfo& t : f.tensors()) w.add_tensor(t.name, t.type, t.dims());
    for (const TensorInfo& t : f.tensors()) w.write_tensor(t.name, t.data, t.bytes);
    w.finish();
  }
  EXPECT_EQ(read_bytes(path("copy.gguf")), read_bytes(src));
}

TEST(GgufSummary, GgufPrintSummaryAndJson) {
  const File f = File::open(kDataDir + "/tiny-bitnet-tq2_0.gguf");
  std::ostringstream out;
  print_summary(f, out, false);
  const std::string s = out.str();
  for (const char* part : {"GGUF v3",
                           "alignment 32",
                           "metadata: 24 keys",
                           "general.architecture",
                           "\"bitnet\"",
                           "bitnet.embedding_length",
                           "uint32",
                           "[string x 1024: ",
                           ", ...]",
                           "[int32 x 1024: 1, 1, ",
                           "blk.0.ffn_down.weight",
                           "TQ2_0",
                           "768 x 256",
                           "50688",
                           "token_embd.weight",
                           "Q6_K",
                           "256 x 1024",
                           "tensors: 24",
                           "totals: 24 tensors",
                           "F32 x 9",
                           "Q6_K x 1",
                           "TQ2_0 x 14",
                           "500000",
                           "0.00001"})
    EXPECT_NE(s.find(part), std::string::npos) << "'" << part << "' missing from summary:\n" << s;
  EXPECT_EQ(s.find("<|begin_of_text|>"), std::string::npos) << "arrays are abbreviated";

  std::ostringstream full;
  print_summary(f, full, true);
  EXPECT_NE(full.str().find("\"<|begin_of_text|>\""), std::string::npos);

  const nlohmann::json j = to_json(f);
  EXPECT_EQ(j.at("version"), 3);
  EXPECT_EQ(j.at("tensor_count"), 24);
  EXPECT_EQ(j.at("metadata").size(), 24u);
  EXPECT_EQ(j.at("metadata")[0].at("key"), "general.architecture");
  EXPECT_EQ(j.at("metadata")[0].at("value"), "bitnet");
  bool saw_tokens = false;
  for (const auto& kv : j.at("metadata")) {
    if (kv.at("key") != "tokenizer.ggml.tokens") continue;
    saw_tokens = true;
    EXPECT_EQ(kv.at("type"), "array");
    EXPECT_EQ(kv.at("element_type"), "string");
    EXPECT_EQ(kv.at("count"), 1024);
    EXPECT_EQ(kv.at("values").size(), 8u);
    EXPECT_EQ(kv.at("truncated"), true);
  }
  EXPECT_TRUE(saw_tokens);
  EXPECT_EQ(j.at("tensors")[8].at("name"), "blk.0.ffn_down.weight");
  EXPECT_EQ(j.at("tensors")[8].at("dims"), nlohmann::json({768, 256}));
  EXPECT_EQ(j.at("totals").at("by_type").at("TQ2_0"), 14);
  EXPECT_NO_THROW(j.dump());
}

TEST(GgufSummary, GgufOddStringsStayPrintable) {
  Bytes b;
  b.header(0, 2).kv_str("bad", "a\xff\x01z").kv_str("long", std::string(200, 'q'));
  const File f = File::parse(b.b);
  std::ostringstream out;
  print_summary(f, out, false);
  EXPECT_NE(out.str().find("\"a\\xff\\x01z\""), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("... (200 bytes)"), std::string::npos) << out.str();
  const nlohmann::json j = to_json(f);
  EXPECT_EQ(j.at("metadata")[0].at("value"), "a\xef\xbf\xbd\x01z");
  EXPECT_NO_THROW(j.dump());
}

// ---------- malformed input ----------

TEST(GgufMalformed, GgufEveryTruncatedPrefixThrows) {
  const auto bytes = read_bytes(kDataDir + "/tiny-bitnet-tq2_0.gguf");
  const File whole = File::parse(bytes);
  // Every prefix through the header, metadata, tensor table and padding, then a sample of
  // prefixes that cut into the tensor data.
  std::vector<size_t> cuts;
  for (size_t n = 0; n <= whole.data_offset(); ++n) cuts.push_back(n);
  for (size_t n = whole.data_offset() + 1; n < bytes.size(); n += 997) cuts.push_back(n);
  cuts.push_back(bytes.size() - 1);
  for (size_t n : cuts) {
    try {
      File::parse(std::span(bytes.data(), n));
      ADD_FAILURE() << "prefix of " << n << " bytes parsed";
    } catch (const tern::Error& e) {
      if (std::string(e.what()).find("offset ") == std::string::npos)
        ADD_FAILURE() << "no offset in: " << e.what();
    }
  }
}

TEST(GgufMalformed, GgufRandomCorruptionThrowsOnlyTernError) {
  const auto original = read_bytes(kDataDir + "/tiny-bitnet-tq2_0.gguf");
  const size_t header_end = File::parse(original).data_offset();
  std::mt19937_64 rng(20261126);
  size_t parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto bytes = original;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t pos = rng() % header_end;
      // Mostly single-bit flips; sometimes a count-sized byte set to an extreme.
      if (rng() % 4 == 0)
        bytes[pos] = (rng() % 2) ? 0xff : 0x00;
      else
        bytes[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
    }
    try {
      const File f = File::parse(bytes);
      ++parsed;  // a flip inside a string or a float is still a valid file
      // Whatever parses must also print.
      std::ostringstream out;
      print_summary(f, out, false);
      EXPECT_NO_THROW(to_json(f).dump());
    } catch (const tern::Error&) {
    }
  }
  EXPECT_GT(parsed, 0u);
}

TEST(GgufMalformed, GgufHugeCountsRejectedBeforeAllocation) {
  Bytes kv;
  kv.header(0, 1ull << 63);
  parse_error(kv.b,
              {"offset 16", "metadata key count", "9223372036854775808", "exceeds what the file can hold"});
  Bytes kv_max;
  kv_max.header(0, ~0ull);
  parse_error(kv_max.b, {"offset 16", "metadata key count: 18446744073709551615"});
  Bytes tensors;
  tensors.header(1ull << 62, 0);
  parse_error(tensors.b, {"offset 8", "tensor count", "exceeds"});

  Bytes str;
  str.header(0, 1).str("k").u32(8).u64(1ull << 62).u64(0);
  parse_error(str.b, {"offset 37", "metadata 'k' value", "string length 4611686018427387904"});
  Bytes key;
  key.header(0, 1).u64(1ull << 62).u64(0).u64(0);
  parse_error(key.b, {"offset 24", "metadata entry 0 key", "string length"});

  Bytes arr;
  arr.header(0, 1).str("k").u32(9).u32(0).u64(1ull << 60).u64(0);
  parse_error(arr.b, {"offset 41", "metadata 'k' array count", "1152921504606846976", "exceeds"});
  Bytes arr_str;
  arr_str.header(0, 1).str("k").u32(9).u32(8).u64(1ull << 60);
  parse_error(arr_str.b, {"metadata 'k' array count", "exceeds"});
  Bytes elem;
  elem.header(0, 1).str("k").u32(9).u32(8).u64(2).str("ok").u64(1ull << 62);
  parse_error(elem.b, {"metadata 'k' element 1", "string length"});
}

TEST(GgufMalformed, GgufValueErrors) {
  Bytes type;
  type.header(0, 1).str("k").u32(13).u32(0);
  parse_error(type.b, {"offset 33", "metadata 'k' value type", "unknown value type 13"});
  Bytes elem_type;
  elem_type.header(0, 1).str("k").u32(9).u32(99).u64(0);
  parse_error(elem_type.b, {"metadata 'k' array element type", "unknown value type 99"});
  Bytes boolean;
  boolean.header(0, 1).str("k").u32(7).u8(2);
  parse_error(boolean.b, {"offset 37", "metadata 'k' value", "bool byte is 2"});
  Bytes bool_arr;
  bool_arr.header(0, 1).str("k").u32(9).u32(7).u64(3).u8(1).u8(0).u8(5);
  parse_error(bool_arr.b, {"metadata 'k' element 2", "bool byte is 5"});
  Bytes dup;
  dup.header(0, 2).kv_u32("k", 1).kv_u32("k", 2);
  parse_error(dup.b, {"offset 41", "metadata entry 1 key", "duplicate key 'k'", "first at offset 24"});

  // Nine levels of arrays: one past the cap.
  Bytes deep;
  deep.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 8; ++i) deep.u32(9).u64(1);
  deep.u32(0).u64(0);
  parse_error(deep.b, {"metadata 'k'", "nested deeper than 8"});
  Bytes ok_depth;
  ok_depth.header(0, 1).str("k").u32(9);
  for (int i = 0; i < 7; ++i) ok_depth.u32(9).u64(1);
  ok_depth.u32(0).u64(0);
  EXPECT_NO_THROW(File::parse(ok_depth.b));
}

namespace {

// One tensor `w` with the given info, preceded by a header, and enough zero data for
// `data_bytes`.
std::vector<uint8_t> one_tensor(std::vector<uint64_t> dims, uint32_t type, uint64_t offset,
                                uint64_t data_bytes) {
  Bytes b;
  b.header(1, 0).tensor("w", std::move(dims), type, offset).data(data_bytes);
  return b.b;
}

}  // namespace

TEST(GgufMalformed, GgufTensorErrors) {
  EXPECT_NO_THROW(File::parse(one_tensor({4, 2}, 0, 0, 32)));
  // Tensor info starts at 24; name 'w' is 9 bytes, so n_dims is at 33 and ne[0] at 37.
  parse_error(one_tensor({4}, 0, 0, 8), {"offset 24", "tensor 0 'w' data", "past the end"});
  parse_error(one_tensor({4}, 0, 64, 16), {"tensor 0 'w' data", "past the end"});
  parse_error(one_tensor({4}, 0, ~0ull - 31, 16), {"tensor 0 'w' data"});
  parse_error(one_tensor({4}, 0, 8, 64), {"tensor 0 'w' offset", "8 is not a multiple of the alignment 32"});
  parse_error(one_tensor({4}, 99, 0, 16),
              {"tensor 0 'w' type", "id 99", "neither a ggml type nor bitnet.cpp's I2_S"});
  parse_error(one_tensor({1, 1, 1, 1, 1}, 0, 0, 16),
              {"offset 33", "tensor 0 'w' n_dims", "5, expected 1..4"});
  parse_error(one_tensor({}, 0, 0, 16), {"tensor 0 'w' n_dims", "0, expected 1..4"});
  parse_error(one_tensor({4, 0}, 0, 0, 16), {"offset 45", "tensor 0 'w' ne[1]", "dims must be at least 1"});
  parse_error(one_tensor({1ull << 40, 1ull << 40}, 0, 0, 16), {"tensor 0 'w' dims", "overflows"});
  parse_error(one_tensor({1ull << 63}, 24, 0, 16), {"tensor 0 'w' ne[0]", "exceeds int64"});
  parse_error(one_tensor({100}, 35, 0, 66),
              {"offset 37", "tensor 0 'w' ne[0]", "row length 100", "TQ2_0's block of 256"});
  parse_error(one_tensor({64}, 36, 0, 64), {"row length 64", "I2_S's block of 128"});

  Bytes dup;
  dup.header(2, 0).tensor("w", {8}, 0, 0).tensor("w", {8}, 0, 32).data(64);
  parse_error(dup.b, {"tensor 1 name", "duplicate tensor name 'w'"});
  Bytes overlap;
  overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).data(96);
  parse_error(overlap.b, {"tensor 1 'b' data", "overlap tensor 'a'"});
  Bytes garbage_name;
  garbage_name.header(1, 0).tensor(std::string("x\n\xff", 3), {8}, 99, 0).data(32);
  parse_error(garbage_name.b, {"'x\\x0a\\xff'"});
}

// ---------- writer ----------

TEST_F(GgufFiles, GgufWriterRemovesTempFileWithoutFinish) {
  {
    Writer w(path("out.gguf"));
    w.set("k", uint32_t{1});
    w.add_tensor("t", GgmlType::F32, {1024});
    EXPECT_TRUE(fs::exists(w.temp_path()));
    EXPECT_NE(w.temp_path().find(".tmp." + std::to_string(::getpid())), std::string::npos);
    w.write_tensor("t", pattern(100, 0));
  }
  EXPECT_EQ(files_in_dir(), 0u);

  // The same when an exception unwinds through the writer.
  try {
    Writer w(path("out.gguf"));
    w.add_tensor("t", GgmlType::F32, {4});
    w.write_tensor("t", pattern(100, 0));
  } catch (const tern::Error&) {
  }
  EXPECT_EQ(files_in_dir(), 0u);
  EXPECT_FALSE(fs::exists(path("out.gguf")));
}

TEST_F(GgufFiles, GgufWriterFailsForMissingDirectory) {
  expect_error([&] { Writer w(path("no/such/dir/out.gguf")); },
               {"no/such/dir/out.gguf", "cannot create", "No such file or directory"});
}

TEST_F(GgufFiles, GgufWriterFailsWhenRenameFails) {
  {
    Writer w(path("taken.gguf"));
    fs::create_directories(path("taken.gguf/inside"));  // a non-empty directory appears as target
    expect_error([&] { w.finish(); }, {"taken.gguf", "cannot rename"});
  }
  EXPECT_EQ(files_in_dir(), 1u) << "the temp file is gone, the directory stays";
  // A directory already there is refused before any work.
  expect_error([&] { Writer w(path("taken.gguf")); }, {"taken.gguf", "is a directory"});
  EXPECT_EQ(files_in_dir(), 1u);
}

TEST_F(GgufFiles, GgufWriterChecksByteCounts) {
  {
    Writer w(path("a.gguf"));
    w.add_tensor("a", GgmlType::F32, {4});
    w.add_tensor("b", GgmlType::F32, {4});
    w.write_tensor("a", pattern(10, 0));
    expect_error([&] { w.write_tensor("a", pattern(7, 0)); },
                 {"a.gguf", "tensor 'a' is 16 bytes", "overrun"});
    expect_error([&] { w.write_tensor("a", pattern(1, 0)); }, {"an earlier call failed"});
  }
  {
    Writer w(path("b.gguf"));
    w.add_tensor("a", GgmlType::F32, {4});
    w.add_tensor("b", GgmlType::F32, {4});
    w.write_tensor("a", pattern(10, 0));
    expect_error([&] { w.write_tensor("b", pattern(16, 0)); }, {"'b'", "'a'", "only 10 of its 16 bytes"});
  }
  {
    Writer w(path("c.gguf"));
    w.add_tensor("a", GgmlType::F32, {4});
    w.add_tensor("b", GgmlType::F32, {4});
    expect_error([&] { w.write_tensor("b", pattern(16, 0)); }, {"declaration order"});
  }
  {
    Writer w(path("d.gguf"));
    w.add_tensor("a", GgmlType::F32, {4});
    w.add_tensor("b", GgmlType::F32, {4});
    w.write_tensor("a", pattern(16, 0));
    w.write_tensor("b", pattern(15, 0));
    expect_error([&] { w.finish(); }, {"tensor 'b' received 15 of its 16 bytes"});
  }
  {
    Writer w(path("e.gguf"));
    w.add_tensor("a", GgmlType::F32, {4});
    w.write_tensor("a", pattern(16, 0));
    expect_error([&] { w.write_tensor("a", pattern(1, 0)); }, {"already written"});
  }
  EXPECT_EQ(files_in_dir(), 0u);
}

TEST_F(GgufFiles, GgufWriterRejectsBadDeclarations) {
  Writer w(path("x.gguf"));
  expect_error([&] { w.set("general.alignment", uint32_t{3}); }, {"power of two"});
  expect_error([&] { w.set("general.alignment", uint64_t{64}); }, {"uint32"});
  w.add_tensor("a", GgmlType::F32, {4});
  expect_error([&] { w.add_tensor("a", GgmlType::F32, {4}); }, {"'a'", "twice"});
  expect_error([&] { w.add_tensor("b", GgmlType::F32, {1, 1, 1, 1, 1}); }, {"'b'", "5 dims"});
  expect_error([&] { w.add_tensor("c", GgmlType::TQ2_0, {100}); }, {"'c'", "TQ2_0"});
  expect_error([&] { w.add_tensor("d", GgmlType::F32, {0}); }, {"'d'"});
  Array deep = Array(std::vector<uint8_t>{1});
  for (int i = 0; i < kMaxArrayDepth; ++i) deep = Array(std::vector<Array>{deep});
  expect_error([&] { w.set("deep", deep); }, {"'deep'", "deeper than 8"});
  w.set("k", uint32_t{1});
  w.set("k", std::string("replaced"));
  w.write_header();
  expect_error([&] { w.set("late", true); }, {"header is already written"});
  expect_error([&] { w.add_tensor("late", GgmlType::F32, {4}); }, {"header is already written"});
  w.write_tensor("a", pattern(16, 0));
  w.finish();
  const File f = File::open(path("x.gguf"));
  EXPECT_EQ(f.metadata().size(), 1u);
  EXPECT_EQ(f.get_string("k"), "replaced");
}

// A llama3-sized vocabulary (128k tokens, 280k merges) must load quickly: it is parsed on
// every model load.
TEST_F(GgufFiles, GgufLargeVocabularyParsesQuickly) {
  constexpr size_t kTokens = 128256, kMerges = 280147;
  {
    std::vector<std::string> tokens, merges;
    std::vector<float> scores;
    std::vector<int32_t> types;
    for (size_t i = 0; i < kTokens; ++i) {
      tokens.push_back("tok" + std::to_string(i * 2654435761u % 1000003));
      scores.push_back(-static_cast<float>(i));
      types.push_back(1);
    }
    for (size_t i = 0; i < kMerges; ++i) {
      std::string merge = "m";
      merge += std::to_string(i);
      merge += " x";
      merge += std::to_string(i % 977);
      merges.push_back(std::move(merge));
    }
    Writer w(path("vocab.gguf"));
    w.set("tokenizer.ggml.tokens", Array(std::move(tokens)));
    w.set("tokenizer.ggml.scores", Array(std::move(scores)));
    w.set("tokenizer.ggml.token_type", Array(std::move(types)));
    w.set("tokenizer.ggml.merges", Array(std::move(merges)));
    w.finish();
  }
  const auto start = std::chrono::steady_clock::now();
  const File f = File::open(path("vocab.gguf"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), kTokens);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges").size(), kMerges);
  EXPECT_EQ(f.get_f32_array("tokenizer.ggml.scores").size(), kTokens);
  EXPECT_LT(seconds, 0.5) << "parsing a " << f.size() << "-byte vocabulary took " << seconds << " s";
  RecordProperty("parse_ms", std::to_string(seconds * 1000));
}
