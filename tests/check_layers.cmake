# Fails when a file includes a project header of a layer it may not use: the arrows of
# docs/architecture.md point down only. Run as `cmake -DROOT=<source tree> -P tests/check_layers.cmake`
# (ctest does, on the project and on tests/fixtures/layer_violation, which must fail).
#
# Each layer (a top-level folder) and the layers it may include, itself always allowed:
#   base         nothing: Error, Device and the device runtime, file I/O
#   cuda_on_cpu  base (test infrastructure standing in for the CUDA libraries)
#   dist         base (the processes of one job: one, or MPI's ranks)
#   kernels      base
#   core         base, kernels
#   weights      base (the parsers build and fuzz alone: standard library and nlohmann-json besides)
#   layers       base, kernels, core, weights
#   media        base, kernels, core (images, colour, video frames, optical flow: never a driver)
#   optim        base, kernels, core
#   preview      base (the live preview's server and page)
#   nst          base, kernels, core, weights, layers, media (the style-transfer objectives)
#   stylize      everything above but apps (the drivers: stylize, stylize_video, their checks)
#   train        everything above but apps (train_style's driver: photos, the perceptual loss, the loop)
#   apps         everything above
# tests/ and fuzz/ may include anything. Only quoted includes of a layer's folder count: <...> headers
# are other libraries (the CUDA-on-CPU layer's cuda_runtime.h is one, by design).
if(NOT ROOT)
  message(FATAL_ERROR "usage: cmake -DROOT=<source tree> -P check_layers.cmake")
endif()
set(allowed_base "")
set(allowed_cuda_on_cpu base)
set(allowed_dist base)
set(allowed_kernels base)
set(allowed_core base kernels)
set(allowed_weights base)
set(allowed_layers base kernels core weights)
set(allowed_media base kernels core)
set(allowed_optim base kernels core)
set(allowed_preview base)
set(allowed_nst base dist kernels core weights layers media)
set(allowed_stylize base dist kernels core weights layers media optim preview nst)
set(allowed_train base dist kernels core weights layers media optim preview nst stylize)
set(allowed_apps base dist kernels core weights layers media optim preview nst stylize train)
set(layers base cuda_on_cpu dist kernels core weights layers media optim preview nst stylize train apps)

set(violations 0)
set(checked 0)
foreach(layer ${layers})
  file(GLOB_RECURSE files LIST_DIRECTORIES false "${ROOT}/${layer}/*.h" "${ROOT}/${layer}/*.cpp"
       "${ROOT}/${layer}/*.cu" "${ROOT}/${layer}/*.cuh")
  foreach(f ${files})
    math(EXPR checked "${checked} + 1")
    file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]+\"")
    foreach(line ${lines})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]+\"([^\"]+)\".*" "\\1" header "${line}")
      string(REGEX MATCH "^[^/]+" top "${header}")
      list(FIND layers "${top}" is_layer)
      if(is_layer EQUAL -1 OR top STREQUAL layer)
        continue()
      endif()
      list(FIND allowed_${layer} "${top}" ok)
      if(ok EQUAL -1)
        file(RELATIVE_PATH rel "${ROOT}" "${f}")
        message("${rel} includes \"${header}\": ${layer}/ may include only ${layer}/ and: ${allowed_${layer}}")
        math(EXPR violations "${violations} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations GREATER 0)
  message(FATAL_ERROR "${violations} include(s) against the layer order (docs/architecture.md)")
endif()
message("layer order kept: ${checked} files checked")
