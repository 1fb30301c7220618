#!/usr/bin/env bash
# Session 64, sixth call: three servers in turn (glibc malloc defaults, fixed mmap and trim thresholds, defaults), each
# measured by three HTTP runs; minor page faults per request beside the server's CPU per request.
M="MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456"
SEQ="http http http" bash .device/s64/one-server.sh
SEQ="http http http" SERVE_ENV="$M" bash .device/s64/one-server.sh
SEQ="http http http" bash .device/s64/one-server.sh
