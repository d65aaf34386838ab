#include <filesystem>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include <torch/torch.h>

#include "io/gif.h"
#include "io/png.h"
#include "viewer/annotate.h"
#include "viewer/headless.h"
#include "viewer/renderer.h"

namespace shapediff::viewer {
namespace {

std::string caption(const Trajectory& t, int64_t f, int64_t b, bool x0) {
  std::ostringstream o;
  o << "step " << t.step[f].item<int64_t>() << "/" << t.step[t.num_frames() - 1].item<int64_t>()
    << "  t=" << std::setprecision(4) << t.timestep[f].item<double>() << "  noise "
    << std::fixed << std::setprecision(3) << noise_rms(t, f, b) << "  " << (x0 ? "x0" : "x_t");
  return o.str();
}

}  // namespace

std::vector<int64_t> sheet_frame_indices(int64_t frames, int64_t count) {
  std::vector<int64_t> out;
  const int64_t k = std::min(frames, count);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t f = k == 1 ? frames - 1 : (i * (frames - 1) + (k - 1) / 2) / (k - 1);
    if (out.empty() || out.back() != f) out.push_back(f);
  }
  return out;
}

HeadlessOutput render_trajectory_headless(const Trajectory& t, const HeadlessOptions& o) {
  if (o.shape < 0 || o.shape >= t.num_shapes()) {
    throw std::invalid_argument("--shape " + std::to_string(o.shape) + " (the trajectory has " +
                                std::to_string(t.num_shapes()) + " shapes: 0.." +
                                std::to_string(t.num_shapes() - 1) + ")");
  }
  if (o.views < 1 || o.views > 8) throw std::invalid_argument("--views " + std::to_string(o.views) + " (must be 1..8)");
  if (o.sheet_frames < 1) throw std::invalid_argument("--sheet-frames " + std::to_string(o.sheet_frames) + " (must be >= 1)");
  if (o.out_dir.empty()) throw std::invalid_argument("--out is required with --headless");
  PointRenderer renderer(o.width, o.height);
  renderer.set_point_size(o.point_size > 0 ? o.point_size : auto_point_size(t.num_points(), o.width, o.height));
  std::filesystem::create_directories(o.out_dir);
  const auto dir = std::filesystem::path(o.out_dir);

  const auto final_points = t.x[t.num_frames() - 1][o.shape];
  const double scale = colour_scale(final_points);
  const auto known = t.has_known() ? t.known[o.shape] : torch::Tensor();
  const auto& source = o.show_x0 ? t.x0 : t.x;
  const int digits = std::max<int>(3, static_cast<int>(std::to_string(t.num_frames() - 1).size()));

  HeadlessOutput out;
  std::vector<torch::Tensor> images;
  for (int64_t f = 0; f < t.num_frames(); ++f) {
    const auto points = source[f][o.shape];
    const auto colours = point_colours(o.colour, points, final_points, known, scale);
    std::vector<torch::Tensor> views;
    for (int64_t v = 0; v < o.views; ++v) {
      CameraView cam;
      cam.azimuth_deg += 360.0 * static_cast<double>(v) / static_cast<double>(o.views);
      renderer.aim(final_points, cam);
      views.push_back(renderer.render({{points, colours}}));
    }
    auto image = views.size() == 1 ? views[0] : torch::cat(views, 1).contiguous();
    // 2x text where it fits (captions are ~35 characters of 12 pixels).
    const int64_t text_scale = o.width >= 440 ? 2 : 1;
    const std::string text = caption(t, f, o.shape, o.show_x0);
    const auto [tw, th] = text_size(text, text_scale);
    const int64_t x = 6 * text_scale, y = image.size(0) - 6 * text_scale - th;
    // A white band under the caption keeps it legible over the points.
    image.slice(0, std::max<int64_t>(y - 2 * text_scale, 0), image.size(0))
        .slice(1, 0, std::min(x + tw + 2 * text_scale, image.size(1)))
        .fill_(255);
    draw_text(image, x, y, text, text_scale);
    std::ostringstream name;
    name << "frame_" << std::setw(digits) << std::setfill('0') << f << ".png";
    out.frames.push_back((dir / name.str()).string());
    io::write_png(out.frames.back(), image);
    images.push_back(image);
  }
  // Hold the finished shape a little longer before the loop restarts.
  std::vector<torch::Tensor> gif_frames = images;
  for (int k = 0; k < 3; ++k) gif_frames.push_back(images.back());
  out.gif = (dir / "trajectory.gif").string();
  io::write_gif(out.gif, gif_frames, o.gif_delay_cs);

  std::vector<torch::Tensor> sheet;
  for (int64_t f : sheet_frame_indices(t.num_frames(), o.sheet_frames)) sheet.push_back(images[f]);
  out.contact_sheet = (dir / "contact_sheet.png").string();
  io::write_png(out.contact_sheet, tile_images(sheet, o.views > 1 ? 2 : 4));
  return out;
}

}  // namespace shapediff::viewer
