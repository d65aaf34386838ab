// What the generating commands (sample, complete) share: the --device and --out checks that
// run before any work, and running the work on a worker thread beside a live window.
//
//   const torch::Device device = parse_cli_device(a.device);
//   check_output_folder(a.out, a.overwrite);
//   if (a.view) check_live_view_display();
//   auto result = run_beside_live_view<Result>(view, [&] { return work(); });
#pragma once

#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include <torch/types.h>

#include "shapediff/config.h"
#include "shapes/point_cloud.h"
#if SHAPEDIFF_WITH_OPEN3D
#include "viewer/live_view.h"
#endif

namespace shapediff::apps {

// "cpu" or "cuda"; std::invalid_argument for another name or a CUDA device this build or
// machine lacks.
torch::Device parse_cli_device(const std::string& name);

// The folder may not exist (its parent must), may be empty, or is replaced with `overwrite`;
// std::invalid_argument otherwise.
void check_output_folder(const std::string& out, bool overwrite);

// --mesh METHOD: a known method in a build with CGAL, else std::invalid_argument.
void check_mesh_method(const std::string& method);

// --mesh: the cloud written at `ply` gets its mesh beside it (<stem>_mesh.ply). A cloud that
// cannot be meshed (too few distinct points, a flat blob) gets a warning instead of failing
// the whole run.
void write_mesh_beside(const std::string& ply, const shapes::PointCloud& cloud, const std::string& method);

// --view needs a display: std::runtime_error saying how to render headless instead.
void check_live_view_display();

// Runs `write(tmp)` on a fresh sibling folder OUT.tmp-PID, then puts it in OUT's place; when
// `write` throws, the temporary folder is removed and the exception passed on, so a failed run
// leaves no partial output.
void write_folder_atomically(const std::string& out,
                             const std::function<void(const std::filesystem::path& tmp)>& write);

#if SHAPEDIFF_WITH_OPEN3D
// Runs `work` on a worker thread while the window runs on this (the main) thread; the window's
// status says "done" or "failed". Returns work's result, or rethrows its exception once the
// window is closed.
template <typename T>
T run_beside_live_view(viewer::LiveView& view, const std::function<T()>& work) {
  T result;
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      result = work();
      view.finish("done");
    } catch (...) {
      error = std::current_exception();
      view.finish("failed");
    }
  });
  try {
    view.run();
  } catch (...) {
    worker.join();
    throw;
  }
  worker.join();
  if (error) std::rethrow_exception(error);
  return result;
}
#endif

}  // namespace shapediff::apps
