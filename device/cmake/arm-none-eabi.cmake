# Cross toolchain for Cortex-M with the Debian/Arm GNU toolchain:
#   cmake -S device -B build -DCMAKE_TOOLCHAIN_FILE=device/cmake/arm-none-eabi.cmake \
#         -DOTA_CPU=cortex-m4 -DOTA_FREESTANDING=ON
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(OTA_CPU cortex-m3 CACHE STRING "-mcpu value")
set(CMAKE_C_FLAGS_INIT "-mcpu=${OTA_CPU} -mthumb -ffreestanding -ffunction-sections -fdata-sections")
