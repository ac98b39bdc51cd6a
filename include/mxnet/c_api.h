/*
 * Compatibility include: programs written against MXNet's <mxnet/c_api.h> build against
 * mxkv unchanged (the KVStore and dense NDArray part of the API).
 */
#ifndef MXKV_MXNET_C_API_H
#define MXKV_MXNET_C_API_H
#include "../mxkv.h"
#endif
