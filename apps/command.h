// Shared plumbing of the `shapediff` command: each subcommand file registers itself on the
// CLI11 app; main() maps exceptions to one-line errors and exit codes (2 = bad input).
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace shapediff::apps {

// A subcommand's work; runs after parsing, inside main's error handling.
using Action = std::function<int()>;

// Registers `shapediff scheduler ...`; `action` is set to the chosen leaf's work.
void add_scheduler_command(CLI::App& app, Action& action);
// `shapediff data make|import|scan|info`.
void add_data_command(CLI::App& app, Action& action);
// `shapediff convert IN OUT`.
void add_convert_command(CLI::App& app, Action& action);
// `shapediff sample --model M --count N --sampler S --steps K --out DIR`.
void add_sample_command(CLI::App& app, Action& action);
// `shapediff train --config FILE --data DIR --out RUN [--steps N] [--resume]`.
void add_train_command(CLI::App& app, Action& action);
// `shapediff eval --generated A --reference B`.
void add_eval_command(CLI::App& app, Action& action);

}  // namespace shapediff::apps
