// tern tokenize: show how a vocabulary splits a text, like llama.cpp's llama-tokenize.
//
// Only the GGUF metadata is read (gguf::File + Tokenizer, never a Model), so vocab-only
// files such as llama.cpp's ggml-vocab-*.gguf work. Output formats:
//   default  one line per token, llama-tokenize's "%6d -> '%s'": the id right-aligned in six
//            columns, then the token's bytes (control tokens spelled out, e.g.
//            '<|begin_of_text|>'). A piece that is not valid UTF-8 on its own (part of a
//            character split across byte tokens) is printed the way llama-tokenize prints
//            one it cannot decode: its bytes in hex, "<e2 82>' (utf-8 decode failure)", so
//            stdout is always valid UTF-8.
//   --ids    "[1, 2, 3]" on one line, as llama-tokenize --ids.
//   --json   {"tokens": [...], "pieces": [...]}; pieces that are not valid UTF-8 on their own
//            have their bad bytes replaced by U+FFFD.
// Differences from llama-tokenize: special-token text is parsed only with --parse-special
// (llama-tokenize parses it unless --no-parse-special), escapes such as \n in -p are not
// processed, and --no-bos drops only BOS (as in tern run; an EOS the vocabulary appends stays).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cli/cli_common.h"
#include "cli/stdout_io.h"
#include "runtime/core/error.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"

namespace tern::cli {

int cmd_tokenize(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, prompt, text_file;
  // clang-format off
  desc.add_options()
      ("model,m", po::value(&model_path)->required(), "GGUF file with a tokenizer (a vocab-only file is enough)")
      ("prompt,p", po::value(&prompt), "text to tokenize (UTF-8)")
      ("file,f", po::value(&text_file), "read the text from this file instead of -p")
      ("no-bos", "do not add BOS even when the vocabulary asks for it")
      ("parse-special", "text spelling a special token (e.g. <|eot_id|>) becomes that token")
      ("ids", "print only the ids, as [1, 2, 3]")
      ("json", "print {\"tokens\": [...], \"pieces\": [...]}");
  // clang-format on
  po::variables_map vm;
  if (!parse_options("tokenize", args, desc, vm,
                     "-m FILE (-p TEXT | -f TEXTFILE) [--no-bos] [--parse-special] [--ids | --json]",
                     "  tern tokenize -m model.gguf -p \"Hello world\"\n"
                     "  tern tokenize -m ggml-vocab-llama-bpe.gguf -p \"Hello world\" --ids      # [128000, "
                     "9906, 1917]\n"
                     "  tern tokenize -m model.gguf -p \"<|eot_id|>\" --parse-special --json\n"))
    return 0;

  const bool ids_only = vm.count("ids") > 0, json = vm.count("json") > 0;
  if (ids_only && json) throw UsageError("--ids and --json: choose one output format");
  if (!vm.count("prompt") && !vm.count("file"))
    throw UsageError("give the text with one of --prompt (-p) and --file (-f)");
  const std::string text = prompt_or_file(vm, prompt, text_file);

  const gguf::File file = gguf::File::open(model_path);
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(file);
  const bool no_bos = vm.count("no-bos") > 0;
  std::vector<int32_t> tokens = tok.encode(text, !no_bos, vm.count("parse-special") > 0);
  if (no_bos && tok.add_eos() && tok.eos() != tokenizer::kNoToken) tokens.push_back(tok.eos());

  std::string out;
  if (ids_only) {
    out += "[";
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ", ";
      out += std::to_string(tokens[i]);
    }
    out += "]\n";
  } else if (json) {
    nlohmann::ordered_json pieces = nlohmann::ordered_json::array();
    for (int32_t id : tokens) pieces.push_back(tokenizer::utf8::sanitize(tok.decode(id, true)));
    const nlohmann::ordered_json j = {{"tokens", tokens}, {"pieces", pieces}};
    out = j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  } else {
    char head[32];
    for (int32_t id : tokens) {
      std::snprintf(head, sizeof head, "%6d -> '", id);
      out += head;
      const std::string piece = tok.decode(id, true);
      if (tokenizer::utf8::is_valid(piece)) {
        out += piece;
        out += "'\n";
      } else {
        out += "<";
        for (size_t i = 0; i < piece.size(); ++i) {
          char hex[4];
          std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(piece[i]));
          if (i) out += " ";
          out += hex;
        }
        out += ">' (utf-8 decode failure)\n";
      }
    }
  }
  write_stdout(out);
  return 0;
}

}  // namespace tern::cli
