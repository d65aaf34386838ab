// Model files on LibTorch's serialize archives (the zip container of torch.save): a module's
// parameters and buffers stored with a JSON manifest of their names and shapes, so that a file
// of another architecture is reported by parameter name, and an FNV-1a checksum over every
// stored tensor, so that a damaged file is rejected instead of loaded. Archive keys are plain
// identifiers ("t0", "t1", ...): LibTorch's archive writer cannot store dotted names such as
// "sa.0.conv.weight", which is why the names live in the manifest.
//
//   torch::serialize::OutputArchive archive;
//   io::write_archive_string(archive, "format", "my-model");
//   io::write_module_state(archive, "weights", *net);
//   io::write_archive_file("model.pt", archive);                 // atomically
//
//   auto in = io::read_archive_file("model.pt");                 // one-line errors
//   io::read_module_state(in, "weights", *net, "model.pt");     // names any mismatch
//
// Tensors are stored as they are in the module (float32 parameters stay float32), on the CPU.
#pragma once

#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include <string>

namespace shapediff::io {

// Writes every parameter and buffer of `module` (named as named_parameters()/named_buffers()
// name them, e.g. "sa.0.1.conv1.weight") into a nested archive under `key`.
void write_module_state(torch::serialize::OutputArchive& archive, const std::string& key,
                        const torch::nn::Module& module);

// Copies the state stored under `key` into `module` (onto the module's devices and dtypes),
// after checking that the stored names and shapes are exactly the module's. Throws
// std::invalid_argument naming `context` and the first difference:
//   "<context>: parameter sa.0.1.conv1.weight has shape [64,67,3,3,3], config expects [32,35,3,3,3]"
//   "<context>: parameter head.2.bias is missing" / "<context>: unexpected parameter x.weight"
// or the damage ("<context>: weights checksum mismatch (damaged file)"). The module is left
// untouched when any check fails.
void read_module_state(torch::serialize::InputArchive& archive, const std::string& key,
                       torch::nn::Module& module, const std::string& context);

// A string value (JSON documents, format names) under `key`.
void write_archive_string(torch::serialize::OutputArchive& archive, const std::string& key,
                          const std::string& value);
// Throws std::invalid_argument "<context>: missing '<key>'" when absent or not a string.
std::string read_archive_string(torch::serialize::InputArchive& archive, const std::string& key,
                                const std::string& context);
// A tensor under `key`; throws std::invalid_argument "<context>: missing '<key>'" when absent.
torch::Tensor read_archive_tensor(torch::serialize::InputArchive& archive, const std::string& key,
                                  const std::string& context);
// A nested archive under `key`; throws std::invalid_argument "<context>: missing '<key>'".
torch::serialize::InputArchive read_archive_nested(torch::serialize::InputArchive& archive,
                                                   const std::string& key,
                                                   const std::string& context);

// Serializes `archive` and writes it to `path` atomically (temporary file, then rename).
void write_archive_file(const std::string& path, torch::serialize::OutputArchive& archive);

// Opens an archive file with its tensors placed on `device`. Throws std::invalid_argument
// "<path>: ..." on one line for a missing, truncated or garbage file.
torch::serialize::InputArchive read_archive_file(const std::string& path,
                                                 torch::Device device = torch::kCPU);

}  // namespace shapediff::io
