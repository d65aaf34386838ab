// `shapediff`: the command-line front end. Arguments are parsed here; the work is done by the
// library functions each subcommand calls.
#include <exception>
#include <iostream>
#include <stdexcept>

#include <c10/util/Exception.h>

#include "apps/command.h"
#include "shapediff/config.h"

int main(int argc, char** argv) {
  CLI::App app{"shapediff: diffusion models for 3D shapes (points, voxels, meshes) and images"};
  app.set_version_flag("--version", std::string("shapediff ") + SHAPEDIFF_VERSION);
  app.require_subcommand(1, 1);
  app.fallthrough();

  shapediff::apps::Action action;
  shapediff::apps::add_scheduler_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "shapediff: error: " << e.what() << "\n";
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
