# c10d's NCCL process group, for data-parallel training on CUDA
# (diffusion/data_parallel_nccl.cpp). LibTorch ships the header
# torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp; it needs USE_C10D_NCCL and nccl.h, which
# PyTorch's wheels bring as a package beside torch in site-packages (nvidia/nccl), else a
# system NCCL (NCCL_HOME, /usr/include).
#
# The check compiles and links that very source file, with the flags, include directories and
# libraries the build would give it, into a program that calls it. So a check that passes means
# the file builds and links; one that fails (no CUDA LibTorch, no nccl.h, an API that moved)
# leaves SHAPEDIFF_WITH_NCCL off and data parallel on Gloo, and never breaks the build.
# Sets SHAPEDIFF_WITH_NCCL, and SHAPEDIFF_NCCL_INCLUDE_DIRS / SHAPEDIFF_NCCL_LIBRARIES for it.
set(SHAPEDIFF_WITH_NCCL OFF)
option(SHAPEDIFF_NCCL "Use c10d's NCCL for data-parallel training when LibTorch provides it" ON)
if(NOT SHAPEDIFF_NCCL OR NOT SHAPEDIFF_WITH_CUDA)
  message(STATUS "shapediff: NCCL data parallel off (needs LibTorch with CUDA)")
  return()
endif()

find_package(CUDAToolkit QUIET)
get_filename_component(_shapediff_site "${Torch_DIR}/../../../.." ABSOLUTE)
file(GLOB _shapediff_nccl_roots "${_shapediff_site}/nvidia/*")
set(_shapediff_nccl_hints $ENV{NCCL_HOME} $ENV{NCCL_ROOT} ${_shapediff_nccl_roots})
find_path(SHAPEDIFF_NCCL_INCLUDE_DIR nccl.h HINTS ${_shapediff_nccl_hints} PATH_SUFFIXES include)
find_library(SHAPEDIFF_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${_shapediff_nccl_hints}
             PATH_SUFFIXES lib lib64)
if(NOT SHAPEDIFF_NCCL_INCLUDE_DIR)
  message(STATUS "shapediff: NCCL data parallel off (no nccl.h under ${_shapediff_site}/nvidia, "
                 "NCCL_HOME or the system include paths)")
  return()
endif()

set(SHAPEDIFF_NCCL_INCLUDE_DIRS ${SHAPEDIFF_NCCL_INCLUDE_DIR})
set(SHAPEDIFF_NCCL_LIBRARIES "")
if(SHAPEDIFF_NCCL_LIBRARY)
  list(APPEND SHAPEDIFF_NCCL_LIBRARIES ${SHAPEDIFF_NCCL_LIBRARY})
endif()
if(TARGET CUDA::cudart)
  list(APPEND SHAPEDIFF_NCCL_LIBRARIES CUDA::cudart)
endif()
if(CUDAToolkit_INCLUDE_DIRS)
  list(APPEND SHAPEDIFF_NCCL_INCLUDE_DIRS ${CUDAToolkit_INCLUDE_DIRS})
endif()

include(CheckCXXSourceCompiles)
include(CMakePushCheckState)
file(READ ${PROJECT_SOURCE_DIR}/diffusion/data_parallel_nccl.cpp _shapediff_nccl_source)
# Then what diffusion/data_parallel.cpp does with it: a TCPStore made as there, handed to the
# file's factory, so that linking needs every symbol either uses.
string(APPEND _shapediff_nccl_source "
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
int main(int argc, char**) {
  if (argc > 100) {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(argc);
    so.isServer = true;
    so.numWorkers = static_cast<std::size_t>(argc);
    so.waitWorkers = true;
    so.timeout = std::chrono::milliseconds(argc);
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(\"127.0.0.1\", so);
    auto group = shapediff::diffusion::detail::make_nccl_group(store, 0, 1, so.timeout, torch::Device(torch::kCUDA, 0));
    group->start_sum(torch::ones({1}, torch::kCUDA))();
    return group->device().is_cuda() ? 0 : 1;
  }
  return 0;
}
")
cmake_push_check_state(RESET)
set(CMAKE_REQUIRED_QUIET ON)
set(CMAKE_REQUIRED_FLAGS "${TORCH_CXX_FLAGS}")
set(CMAKE_REQUIRED_DEFINITIONS -DUSE_C10D_NCCL -DSHAPEDIFF_WITH_NCCL)
set(CMAKE_REQUIRED_INCLUDES ${PROJECT_SOURCE_DIR} ${TORCH_INCLUDE_DIRS} ${SHAPEDIFF_NCCL_INCLUDE_DIRS})
set(CMAKE_REQUIRED_LIBRARIES ${TORCH_LIBRARIES} ${SHAPEDIFF_NCCL_LIBRARIES})
check_cxx_source_compiles("${_shapediff_nccl_source}" SHAPEDIFF_NCCL_COMPILES)
cmake_pop_check_state()
if(SHAPEDIFF_NCCL_COMPILES)
  set(SHAPEDIFF_WITH_NCCL ON)
  message(STATUS "shapediff: NCCL data parallel on (nccl.h in ${SHAPEDIFF_NCCL_INCLUDE_DIR})")
else()
  message(STATUS "shapediff: NCCL data parallel off (diffusion/data_parallel_nccl.cpp does not "
                 "compile or link against this LibTorch; see CMakeFiles/CMakeError.log or "
                 "CMakeFiles/CMakeConfigureLog.yaml, SHAPEDIFF_NCCL_COMPILES)")
endif()
