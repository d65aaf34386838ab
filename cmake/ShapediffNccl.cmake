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

# The check builds a small separate project (its own CMake run, in its own process) that
# finds Torch as this one does and compiles and links the real data_parallel_nccl.cpp with a
# main that calls it. A separate process, because a failure of any kind there (a compile or
# link error, or Torch's imported targets not resolving inside a try_compile, which aborted a
# configure on the GPU machine) must only turn NCCL off. The result is cached.
if(NOT DEFINED CACHE{SHAPEDIFF_NCCL_COMPILES})
  set(_check_dir ${CMAKE_BINARY_DIR}/nccl-check)
  set(_check_lib "")
  if(SHAPEDIFF_NCCL_LIBRARY)
    set(_check_lib ${SHAPEDIFF_NCCL_LIBRARY})
  endif()
  file(REMOVE_RECURSE ${_check_dir})
  file(MAKE_DIRECTORY ${_check_dir}/src)
  # What diffusion/data_parallel.cpp does with the file: a TCPStore made as there, handed to
  # its factory, so that linking needs every symbol either uses.
  file(WRITE ${_check_dir}/src/main.cpp "
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>
#include \"diffusion/data_parallel_group.h\"
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
  file(WRITE ${_check_dir}/src/CMakeLists.txt "
cmake_minimum_required(VERSION 3.18)
project(shapediff_nccl_check CXX)
find_package(Torch REQUIRED)
find_package(CUDAToolkit QUIET)
add_executable(check main.cpp ${PROJECT_SOURCE_DIR}/diffusion/data_parallel_nccl.cpp)
set_property(TARGET check PROPERTY CXX_STANDARD 17)
target_compile_definitions(check PRIVATE USE_C10D_NCCL SHAPEDIFF_WITH_NCCL)
target_include_directories(check PRIVATE ${PROJECT_SOURCE_DIR} ${SHAPEDIFF_NCCL_INCLUDE_DIRS})
target_link_libraries(check PRIVATE \${TORCH_LIBRARIES} ${_check_lib})
if(TARGET CUDA::cudart)
  target_link_libraries(check PRIVATE CUDA::cudart)
endif()
")
  set(_check_args -S ${_check_dir}/src -B ${_check_dir}/build -G ${CMAKE_GENERATOR}
      -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH}"
      -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} -DTorch_DIR=${Torch_DIR})
  if(CMAKE_CUDA_ARCHITECTURES)
    list(APPEND _check_args "-DCMAKE_CUDA_ARCHITECTURES=${CMAKE_CUDA_ARCHITECTURES}")
  endif()
  message(STATUS "shapediff: checking that diffusion/data_parallel_nccl.cpp builds (${_check_dir})")
  execute_process(COMMAND ${CMAKE_COMMAND} ${_check_args} RESULT_VARIABLE _configured
                  OUTPUT_FILE ${_check_dir}/configure.log ERROR_FILE ${_check_dir}/configure.log
                  TIMEOUT 300)
  set(_built 1)
  if(_configured EQUAL 0)
    execute_process(COMMAND ${CMAKE_COMMAND} --build ${_check_dir}/build RESULT_VARIABLE _built
                    OUTPUT_FILE ${_check_dir}/build.log ERROR_FILE ${_check_dir}/build.log TIMEOUT 600)
  endif()
  if(_configured EQUAL 0 AND _built EQUAL 0)
    set(SHAPEDIFF_NCCL_COMPILES ON CACHE INTERNAL "data_parallel_nccl.cpp builds against this LibTorch")
  else()
    set(SHAPEDIFF_NCCL_COMPILES OFF CACHE INTERNAL "data_parallel_nccl.cpp builds against this LibTorch")
  endif()
endif()
if(SHAPEDIFF_NCCL_COMPILES)
  set(SHAPEDIFF_WITH_NCCL ON)
  message(STATUS "shapediff: NCCL data parallel on (nccl.h in ${SHAPEDIFF_NCCL_INCLUDE_DIR})")
else()
  message(STATUS "shapediff: NCCL data parallel off (diffusion/data_parallel_nccl.cpp does not "
                 "build against this LibTorch: see ${CMAKE_BINARY_DIR}/nccl-check/*.log)")
endif()
