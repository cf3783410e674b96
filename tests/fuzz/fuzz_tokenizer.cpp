// fuzz_tokenizer: arbitrary bytes as text through the tiny model's vocabulary (llama-bpe
// pre-tokenizer, 1024 tokens, 752 merges), loaded once. Checks what tokenizer.h promises:
//  - encode never throws, for any bytes and all four flag combinations, and gives ids in
//    [0, n_vocab), BOS first when asked for;
//  - decode(encode(s, false, false)) == s for valid UTF-8 s;
//  - StreamDecoder's output is always valid UTF-8 and, when decode(ids) is valid UTF-8,
//    equals it; also for id sequences taken straight from the input bytes (arbitrary
//    byte-token splits).
// TERN_FUZZ_VOCAB (compiled in) names the vocabulary; the environment variable of the same
// name overrides it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using tern::tokenizer::StreamDecoder;
using tern::tokenizer::Tokenizer;

const Tokenizer& tokenizer() {
  static const tern::gguf::File file = [] {
    const char* env = std::getenv("TERN_FUZZ_VOCAB");
    return tern::gguf::File::open(env && *env ? env : TERN_FUZZ_VOCAB);
  }();
  static const Tokenizer tok = Tokenizer::from_gguf(file);
  return tok;
}

std::string stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool special) {
  StreamDecoder sd(tok, special);
  std::string out;
  for (int32_t id : ids) {
    out += sd.push(id);
    TERN_FUZZ_CHECK(sd.pending() <= 3);
  }
  out += sd.flush();
  TERN_FUZZ_CHECK(sd.pending() == 0);
  TERN_FUZZ_CHECK(tern::fuzz::valid_utf8(out), "stream decoder output is not valid UTF-8");
  return out;
}

void check_stream(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  for (bool special : {false, true}) {
    const std::string whole = tok.decode(ids, special);
    const std::string streamed = stream(tok, ids, special);
    if (tern::fuzz::valid_utf8(whole))
      TERN_FUZZ_CHECK(streamed == whole, "stream decoder differs from decode() on valid UTF-8");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tokenizer();  // load outside the timed runs; a broken vocab fails here, loudly
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizer& tok = tokenizer();
  const int32_t n = tok.n_vocab();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool valid = tern::fuzz::valid_utf8(text);

  for (bool add_special : {false, true}) {
    for (bool parse_special : {false, true}) {
      const std::vector<int32_t> ids = tok.encode(text, add_special, parse_special);
      for (int32_t id : ids) TERN_FUZZ_CHECK(id >= 0 && id < n, "id outside the vocabulary");
      if (add_special && tok.add_bos()) TERN_FUZZ_CHECK(!ids.empty() && ids.front() == tok.bos());
      if (!add_special && !parse_special && valid)
        TERN_FUZZ_CHECK(tok.decode(ids) == text, "decode(encode(s)) != s for valid UTF-8");
      check_stream(tok, ids);
    }
  }

  // The same bytes as token ids (little-endian u16 pairs): arbitrary splits of characters
  // over byte tokens, control tokens, unused ids.
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < size; i += 2) ids.push_back((data[i] | data[i + 1] << 8) % n);
  check_stream(tok, ids);
  return 0;
}
