// `shapediff`: the command-line front end. Arguments are parsed here; the work is done by the
// library functions each subcommand calls.
#include <exception>
#include <iostream>
#include <stdexcept>

#include <c10/util/Exception.h>

#include "apps/command.h"
#include "shapediff/config.h"

namespace {

// CLI11 reports a mistyped subcommand as "A subcommand is required"; name the word instead.
std::string unknown_command_message(CLI::App& app, int argc, char** argv, const std::string& fallback) {
  CLI::App* level = &app;
  std::string path = "shapediff";
  for (int i = 1; i < argc; ++i) {
    const std::string token = argv[i];
    if (token.empty() || token[0] == '-') break;
    const auto subs = level->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty()) break;
    CLI::App* next = nullptr;
    std::string names;
    for (auto* sub : subs) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      if (sub->get_name() == token) next = sub;
    }
    if (next == nullptr) {
      return "unknown command '" + token + "' for '" + path + "' (choose from: " + names + ")";
    }
    level = next;
    path += " " + token;
  }
  const auto subs = level->get_subcommands([](CLI::App*) { return true; });
  if (!subs.empty() && fallback.find("subcommand is required") != std::string::npos) {
    std::string names;
    for (auto* sub : subs) names += (names.empty() ? "" : ", ") + sub->get_name();
    return "'" + path + "' needs a command (choose from: " + names + ")";
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shapediff: diffusion models for 3D shapes (points, voxels, meshes) and images"};
  app.set_version_flag("--version", std::string("shapediff ") + SHAPEDIFF_VERSION);
  app.require_subcommand(1, 1);
  app.fallthrough();

  shapediff::apps::Action action;
  shapediff::apps::add_data_command(app, action);
  shapediff::apps::add_convert_command(app, action);
  shapediff::apps::add_scheduler_command(app, action);
  shapediff::apps::add_eval_command(app, action);
  shapediff::apps::add_sample_command(app, action);
  shapediff::apps::add_complete_command(app, action);
  shapediff::apps::add_eval_completion_command(app, action);
  shapediff::apps::add_demo_command(app, action);
  shapediff::apps::add_train_command(app, action);
  shapediff::apps::add_view_command(app, action);
  shapediff::apps::add_reconstruct_command(app, action);
  shapediff::apps::add_image_data_command(app, action);
  shapediff::apps::add_image_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "shapediff: error: " << unknown_command_message(app, argc, argv, e.what())
              << "\n";
    return 2;
  }
  if (!action) {
    std::cerr << "shapediff: error: no command given (see --help)\n";
    return 2;
  }
  try {
    return action();
  } catch (const std::invalid_argument& e) {
    std::cerr << "shapediff: error: " << e.what() << "\n";
    return 2;
  } catch (const std::runtime_error& e) {
    std::cerr << "shapediff: error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "shapediff: internal error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "shapediff: internal error: " << e.what() << "\n";
    return 1;
  }
}
