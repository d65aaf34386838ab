# Helpers that give every shapediff library the same layout, PCH and install rules.

# at::parallel_for is inlined from ATen's headers: without -fopenmp its `omp parallel` is
# compiled out and every parallel loop of ours runs on one thread. The PCH and every target
# that reuses it need the same flag.
find_package(OpenMP REQUIRED COMPONENTS CXX)

# One object library builds the torch PCH once; every target reuses it.
add_library(shapediff_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
target_link_libraries(shapediff_pch PUBLIC torch OpenMP::OpenMP_CXX)
target_precompile_headers(shapediff_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/torch_pch.h)

function(shapediff_use_pch target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    # The shared PCH is built with -fPIC; an executable's default -fPIE would reject it.
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
  target_precompile_headers(${target} REUSE_FROM shapediff_pch)
endfunction()

# shapediff_add_library(name SOURCES ... HEADERS ... DEPS ...)
# Creates shapediff_<name>, alias shapediff::<name>, installs headers to include/shapediff/<name>.
function(shapediff_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;HEADERS;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target shapediff_${name})
  add_library(${target} ${ARG_SOURCES})
  add_library(shapediff::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME shapediff_${name})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/shapediff>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target} PUBLIC torch OpenMP::OpenMP_CXX ${ARG_DEPS}
                        PRIVATE ${ARG_PRIVATE_DEPS})
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  shapediff_use_pch(${target})
  install(TARGETS ${target} EXPORT shapediffTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  foreach(h ${ARG_HEADERS})
    get_filename_component(dir ${h} DIRECTORY)
    install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/${h}
            DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/shapediff/${name}/${dir})
  endforeach()
endfunction()

# A library folder with no compiled sources yet: headers-only interface target.
function(shapediff_add_interface_library name)
  set(target shapediff_${name})
  add_library(${target} INTERFACE)
  add_library(shapediff::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(${target} INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/shapediff>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target} INTERFACE torch ${ARGN})
  install(TARGETS ${target} EXPORT shapediffTargets)
endfunction()
