# The CUDA language, for the point-op kernels (networks/point_ops_kernels.cu).
# nvcc compiles the kernels in every build that has it, CPU-only ones (CI) included, so a kernel
# that stops compiling shows up there; only SHAPEDIFF_WITH_CUDA (LibTorch with CUDA) links them
# in. Included before find_package(Torch): PyTorch's CUDA config sets CMAKE_CUDA_ARCHITECTURES
# to OFF, so the architectures are captured here (default 90, H100/H200) into
# SHAPEDIFF_CUDA_ARCHITECTURES and set on the kernel target.
# Sets SHAPEDIFF_HAVE_NVCC.
option(SHAPEDIFF_CUDA_KERNELS "Compile the CUDA kernels whenever nvcc is found" ON)
set(SHAPEDIFF_HAVE_NVCC OFF)
if(SHAPEDIFF_CUDA_KERNELS)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures of the shapediff kernels")
    endif()
    set(SHAPEDIFF_CUDA_ARCHITECTURES ${CMAKE_CUDA_ARCHITECTURES})
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    # LibTorch loads the shared CUDA runtime; the kernels must use the same one.
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    if(SHAPEDIFF_CCACHE)
      set(CMAKE_CUDA_COMPILER_LAUNCHER ${SHAPEDIFF_CCACHE})
    endif()
    enable_language(CUDA)
    set(SHAPEDIFF_HAVE_NVCC ON)
    message(STATUS "shapediff: CUDA kernels compiled by ${CMAKE_CUDA_COMPILER} "
                   "(${CMAKE_CUDA_COMPILER_VERSION}) for ${SHAPEDIFF_CUDA_ARCHITECTURES}")
  else()
    message(STATUS "shapediff: no nvcc found, CUDA kernels not compiled")
  endif()
endif()
