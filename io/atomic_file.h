// Atomic file output: content goes to "<path>.tmp-<pid>" and is renamed over `path` only once
// fully written and flushed, so readers never see a partial file and a failure leaves none.
#pragma once

#include <functional>
#include <string>

namespace shapediff::io {

void write_file_atomically(const std::string& path, const std::string& content);

// Calls `writer(temp_path)` to produce the file, then renames it into place; on any exception
// the temporary file is removed and the exception rethrown.
void write_atomically(const std::string& path,
                      const std::function<void(const std::string& temp_path)>& writer);

}  // namespace shapediff::io
