// The embedded 2D dataset on disk: the depth renders of shapes/render_dataset.h written as a
// PNG folder that read_image_folder (io/image_folder.h) reads back, one subfolder per family:
//
//   renders/airplane/airplane-0000-v00.png ... renders/table/table-0019-v01.png   (8-bit gray)
//
//   shapes::RenderDatasetOptions o;  o.size = 64;
//   shapes::RenderedImages r = write_render_folder("renders", o);   // r.images [240,1,64,64]
#pragma once

#include <string>

#include "shapes/render_dataset.h"

namespace shapediff::io {

// Renders (shapes::render_dataset) and writes atomically (write_image_folder: `dir` must not
// exist or be empty unless `overwrite`). Returns what it wrote. std::invalid_argument for bad
// options or an occupied `dir`.
shapes::RenderedImages write_render_folder(const std::string& dir,
                                           const shapes::RenderDatasetOptions& options,
                                           bool overwrite = false);

}  // namespace shapediff::io
