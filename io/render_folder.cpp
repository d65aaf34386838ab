#include "io/render_folder.h"

#include <filesystem>
#include <stdexcept>

#include "io/image_folder.h"

namespace shapediff::io {

shapes::RenderedImages write_render_folder(const std::string& dir,
                                           const shapes::RenderDatasetOptions& options,
                                           bool overwrite) {
  options.validate();
  // Checked before rendering too, so a bad folder fails at once rather than after the work.
  std::error_code ec;
  const std::filesystem::path target(dir);
  if (!overwrite && std::filesystem::exists(target, ec) &&
      !(std::filesystem::is_directory(target, ec) && std::filesystem::is_empty(target, ec))) {
    throw std::invalid_argument(dir + ": already exists and is not an empty folder (overwrite to replace it)");
  }
  const auto parent = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(parent, ec)) {
    throw std::invalid_argument(dir + ": parent folder does not exist");
  }
  shapes::RenderedImages rendered = shapes::render_dataset(options);
  write_image_folder(dir, rendered.images, rendered.names, overwrite);
  return rendered;
}

}  // namespace shapediff::io
