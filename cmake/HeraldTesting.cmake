# Test helpers shared by every component.
#
#   herald_test(NAME foo_test SOURCES foo_test.cc LIBS herald::common LABEL unit)
#
# LABEL is one of unit, integration, ops, browser, chart, image. Integration,
# ops and browser tests, and any test marked KAFKA, get the `kafka` fixture:
# ctest starts one private broker for the run (tests/CMakeLists.txt) and stops
# it afterwards, even when tests fail.
include(GoogleTest)

function(herald_test)
  cmake_parse_arguments(T "KAFKA" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL)
    message(FATAL_ERROR "herald_test(${T_NAME}) needs a LABEL")
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT})
  set(environment "")
  if(HERALD_TEST_LIBRARY_PATH)
    list(APPEND environment "LD_LIBRARY_PATH=${HERALD_TEST_LIBRARY_PATH}")
  endif()
  if(HERALD_TEST_PRELOAD)
    list(APPEND environment "LD_PRELOAD=${HERALD_TEST_PRELOAD}")
    add_dependencies(${T_NAME} herald_tsan_thrd_create)
  endif()
  if(T_KAFKA OR T_LABEL STREQUAL "integration" OR T_LABEL STREQUAL "ops" OR T_LABEL STREQUAL "browser")
    set_tests_properties(${T_NAME} PROPERTIES FIXTURES_REQUIRED kafka)
    list(APPEND environment "HERALD_TEST_KAFKA_DIR=${HERALD_TEST_KAFKA_DIR}")
  endif()
  if(environment)
    set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "${environment}")
  endif()
endfunction()
