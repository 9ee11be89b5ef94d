# Warnings and sanitizers, applied to every target of ours through hims_compile_options.
add_library(hims_compile_options INTERFACE)
target_compile_options(hims_compile_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                                      -Wnon-virtual-dtor -Wold-style-cast)
if(HIMS_WERROR)
  target_compile_options(hims_compile_options INTERFACE -Werror)
endif()
if(HIMS_SANITIZE)
  target_compile_options(hims_compile_options INTERFACE -fsanitize=address,undefined
                                                        -fno-omit-frame-pointer
                                                        -fno-sanitize-recover=undefined)
  target_link_options(hims_compile_options INTERFACE -fsanitize=address,undefined)
endif()
