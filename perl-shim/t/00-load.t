use strict;
use warnings;
use Test::More;

use_ok('AI::MXNetCAPI');
use_ok('AI::MXNet', 'mx');

is_deeply([AI::MXNetCAPI::GetVersion()], [0, 10901], 'GetVersion reports the MXNet 1.9.1 API level');
my ($rc, $v) = AI::MXNetCAPI::KVGetVersion();
is($rc, 0, 'KVGetVersion succeeds');
cmp_ok($v, '>=', 100, "mxkv's own version is at least 0.1.0 ($v)");
is(mx->api_version, 10901, 'mx->api_version');
is(mx->mxkv_version, $v, 'mx->mxkv_version');
is(mx->nd, 'AI::MXNet::NDArray', 'mx->nd');
is(mx->kv, 'AI::MXNet::KVStore', 'mx->kv');
is(mx->optimizer, 'AI::MXNet::Optimizer', 'mx->optimizer');
is(mx->kvstore_server, 'AI::MXNet::KVStoreServer', 'mx->kvstore_server');
is(mx->cpu(2) . '', 'cpu(2)', 'mx->cpu(2)');
is(mx->cpu . '', 'cpu(0)', 'mx->cpu defaults to cpu(0)');
is_deeply([AI::MXNetCAPI::KVStoreIsWorkerNode()], [0, 1], 'a plain process is a worker');

done_testing;
