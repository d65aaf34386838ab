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
// `shapediff complete --model M --input SCAN --out DIR`.
void add_complete_command(CLI::App& app, Action& action);
// `shapediff demo [--out DIR]`: the main job.
void add_demo_command(CLI::App& app, Action& action);
// `shapediff eval-completion --data DIR --model M --completion-model C`.
void add_eval_completion_command(CLI::App& app, Action& action);
// `shapediff eval --generated A --reference B`.
void add_eval_command(CLI::App& app, Action& action);
void add_view_command(CLI::App& app, Action& action);  // `shapediff view TRAJECTORY|FILE... [--headless --out DIR]`
void add_reconstruct_command(CLI::App& app, Action& action);  // `shapediff reconstruct --input X --method M --out MESH`
void add_image_data_command(CLI::App& app, Action& action);  // `shapediff image-data --out DIR [--families F] [--per-family N] [--views V] [--size S]`
void add_image_command(CLI::App& app, Action& action);  // `shapediff image inpaint|edit --model M --input IMG.png ...`

}  // namespace shapediff::apps
