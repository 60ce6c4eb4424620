# The persistent log's C++ tests (cpp/log/format.h, cpp/log/scan.h); included by CMakeLists.txt
# after ringwire_test() is defined.
ringwire_test(log_scan)
