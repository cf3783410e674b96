// fuzz_gguf: gguf::File::parse on arbitrary bytes. Bad input must end in tern::Error and
// nothing else; a file that parses must hold together for everything a consumer does next:
// every tensor's type, size and data span, every typed getter, the `tern inspect` text and
// JSON, and the tokenizer built from its metadata (a model file's vocabulary is input too).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "runtime/core/error.h"
#include "runtime/core/ggml_type.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using tern::Error;
namespace gguf = tern::gguf;

// Each getter either returns or throws tern::Error; any other exception escapes and crashes.
template <class F>
void getter(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

void walk_tensors(const gguf::File& f, const uint8_t* data, size_t size) {
  volatile uint8_t sink = 0;
  for (const gguf::TensorInfo& t : f.tensors()) {
    TERN_FUZZ_CHECK(t.n_dims >= 1 && t.n_dims <= gguf::kMaxDims);
    const tern::GgmlTypeInfo* info = tern::ggml_type_info(static_cast<uint32_t>(t.type));
    TERN_FUZZ_CHECK(info != nullptr, t.name);
    const auto bytes = tern::ggml_tensor_bytes(t.type, t.dims());
    TERN_FUZZ_CHECK(bytes && *bytes == t.bytes, t.name);
    TERN_FUZZ_CHECK(t.file_offset == f.data_offset() + t.offset, t.name);
    TERN_FUZZ_CHECK(t.file_offset <= size && t.bytes <= size - t.file_offset, t.name);
    TERN_FUZZ_CHECK(t.data == data + t.file_offset, t.name);
    TERN_FUZZ_CHECK(f.find_tensor(t.name) == &t, t.name);
    (void)t.elements();
    const std::span<const uint8_t> s = t.span();
    if (!s.empty()) sink = sink + s.front() + s.back();  // ASan: the span lies in the input
  }
  (void)sink;
}

void walk_metadata(const gguf::File& f) {
  for (const gguf::KeyValue& kv : f.metadata()) {
    TERN_FUZZ_CHECK(f.find(kv.key) == &kv.value, kv.key);
    const std::string& k = kv.key;
    getter([&] { (void)f.get_string(k); });
    getter([&] { (void)f.get_u32(k); });
    getter([&] { (void)f.get_i32(k); });
    getter([&] { (void)f.get_u64(k); });
    getter([&] { (void)f.get_i64(k); });
    getter([&] { (void)f.get_f32(k); });
    getter([&] { (void)f.get_f64(k); });
    getter([&] { (void)f.get_bool(k); });
    getter([&] { (void)f.get_array(k); });
    getter([&] { (void)f.get_string_array(k); });
    getter([&] { (void)f.get_i32_array(k); });
    getter([&] { (void)f.get_u32_array(k); });
    getter([&] { (void)f.get_i64_array(k); });
    getter([&] { (void)f.get_f32_array(k); });
  }
  getter([&] { (void)f.get_u32("general.absent", 7); });
}

void try_tokenizer(const gguf::File& f) {
  std::optional<tern::tokenizer::Tokenizer> tok;
  try {
    tok.emplace(tern::tokenizer::Tokenizer::from_gguf(f));
  } catch (const Error&) {
    return;
  }
  const int32_t n = tok->n_vocab();
  TERN_FUZZ_CHECK(n > 0);
  for (int32_t id : {tok->bos(), tok->eos(), tok->eot()})
    TERN_FUZZ_CHECK(id == tern::tokenizer::kNoToken || (id >= 0 && id < n));
  static const char* const kTexts[] = {"Hello world, it's 2025!\n\n  ok", "<|begin_of_text|>hi<|eot_id|>",
                                       "caf\xc3\xa9 \xf0\x9f\x98\x80 \xff\xc0\x80 \xed\xa0\x80"};
  for (const char* text : kTexts) {
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = tok->encode(text, special, special);
      for (int32_t id : ids) TERN_FUZZ_CHECK(id >= 0 && id < n);
      (void)tok->decode(ids, special);
      tern::tokenizer::StreamDecoder sd(*tok, special);
      std::string streamed;
      for (int32_t id : ids) streamed += sd.push(id);
      streamed += sd.flush();
      TERN_FUZZ_CHECK(tern::fuzz::valid_utf8(streamed));
    }
  }
  for (int32_t id = 0; id < n && id < 64; ++id) {
    (void)tok->decode(id, true);
    (void)tok->token_text(id);
    (void)tok->token_type(id);
    (void)tok->is_eog(id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<gguf::File> file;
  try {
    file.emplace(gguf::File::parse({data, size}, "fuzz.gguf"));
  } catch (const Error&) {
    return 0;  // rejected with a message: the expected outcome for most inputs
  }
  const gguf::File& f = *file;
  TERN_FUZZ_CHECK(f.version() == 2 || f.version() == 3);
  TERN_FUZZ_CHECK(f.alignment() != 0 && (f.alignment() & (f.alignment() - 1)) == 0);
  walk_tensors(f, data, size);
  walk_metadata(f);

  tern::fuzz::NullStream null;
  gguf::print_summary(f, null, false);
  gguf::print_summary(f, null, true);
  (void)gguf::to_json(f).dump();  // documented to always dump (no invalid UTF-8 left)

  try_tokenizer(f);
  return 0;
}
