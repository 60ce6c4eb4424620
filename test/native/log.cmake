# The persistent log's C++ tests (cpp/log_format.h, cpp/log_scan.h); included by CMakeLists.txt
# after ringwire_test() is defined.
ringwire_test(log_scan)
