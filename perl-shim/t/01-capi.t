# The XS layer on its own: MXNet's SWIG calling convention, handle ownership, callbacks.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNetCAPI;

my $C = 'AI::MXNetCAPI';

# A float32 array on cpu($dev) holding @values.
sub f32
{
    my ($shape, @values) = @_;
    my ($rc, $h) = AI::MXNetCAPI::NDArrayCreateEx($shape, scalar(@$shape), 1, 0, 0, 0);
    die AI::MXNetCAPI::GetLastError() if $rc;
    is(AI::MXNetCAPI::NDArraySyncCopyFromCPU($h, pack('f*', @values), scalar(@values)), 0) if @values;
    return $h;
}

sub read_f32
{
    my ($h, $n) = @_;
    my $rc = AI::MXNetCAPI::NDArraySyncCopyToCPU($h, my $buf, $n);
    die AI::MXNetCAPI::GetLastError() if $rc;
    return [unpack('f*', $buf)];
}

subtest 'return convention and store queries' => sub {
    my @r = AI::MXNetCAPI::KVStoreCreate('LOCAL_Update_CPU');
    is(scalar(@r), 2, 'success: (rc, handle)');
    is($r[0], 0, 'rc 0');
    isa_ok($r[1], 'KVStoreHandle');
    my $kv = $r[1];
    is_deeply([AI::MXNetCAPI::KVStoreGetType($kv)], [0, 'local_update_cpu'], 'GetType: lower-cased name');
    is_deeply([AI::MXNetCAPI::KVStoreGetRank($kv)], [0, 0], 'GetRank');
    is_deeply([AI::MXNetCAPI::KVStoreGetGroupSize($kv)], [0, 1], 'GetGroupSize');
    is_deeply([AI::MXNetCAPI::KVStoreIsWorkerNode()], [0, 1], 'IsWorkerNode');
    is_deeply([AI::MXNetCAPI::KVStoreIsServerNode()], [0, 0], 'IsServerNode');
    is_deeply([AI::MXNetCAPI::KVStoreIsSchedulerNode()], [0, 0], 'IsSchedulerNode');
    is_deeply([AI::MXNetCAPI::KVStoreBarrier($kv)], [0], 'Barrier is a no-op');
    is_deeply([AI::MXNetCAPI::KVStoreSetBarrierBeforeExit($kv, 1)], [0], 'SetBarrierBeforeExit');
    is_deeply([AI::MXNetCAPI::KVStoreSendCommmandToServers($kv, 3, 'body')], [0], 'SendCommmandToServers');
    is_deeply([AI::MXNetCAPI::KVStoreGetNumDeadNode($kv, 0)], [0, 0], 'GetNumDeadNode, default timeout');
    is_deeply([AI::MXNetCAPI::KVStoreGetNumDeadNode($kv, 0, 1)], [0, 0], 'GetNumDeadNode with a timeout');
    my $called = 0;
    is_deeply([AI::MXNetCAPI::KVStoreRunServer($kv, sub { $called++ })], [0], 'RunServer on a local store returns');
    is($called, 0, 'and runs no command');

    my @fail = AI::MXNetCAPI::KVStoreCreate('nccl');
    is_deeply(\@fail, [-1], 'failure: (rc) only, no outputs');
    like(AI::MXNetCAPI::GetLastError(), qr/^MXNetError: .*nccl/, 'GetLastError says why');
    is_deeply([AI::MXNetCAPI::GetVersion()], [0, 10901], 'a later success');
    like(AI::MXNetCAPI::GetLastError(), qr/nccl/, 'does not clear the last error');
    is_deeply([AI::MXNetCAPI::KVStoreFree($kv)], [0], 'KVStoreFree');
    is_deeply([AI::MXNetCAPI::KVStoreGetRank($kv)], [-1], 'a freed store is refused');
    like(AI::MXNetCAPI::GetLastError(), qr/no longer valid|freed/, 'with a message');
    no_warnings_from(sub { undef $kv }, 'destroying a freed store handle frees nothing twice');
};

subtest 'NDArray functions' => sub {
    my ($rc, $h) = AI::MXNetCAPI::NDArrayCreateEx([2, 3], 2, 1, 2, 0, 1);
    is($rc, 0, 'CreateEx float64 on cpu(2)');
    isa_ok($h, 'NDArrayHandle');
    is_deeply([AI::MXNetCAPI::NDArrayGetShape($h)], [0, [2, 3]], 'GetShape');
    is_deeply([AI::MXNetCAPI::NDArrayGetShapeEx($h)], [0, [2, 3]], 'GetShapeEx');
    is_deeply([AI::MXNetCAPI::NDArrayGetShapeEx64($h)], [0, [2, 3]], 'GetShapeEx64');
    is_deeply([AI::MXNetCAPI::NDArrayGetDType($h)], [0, 1], 'GetDType');
    is_deeply([AI::MXNetCAPI::NDArrayGetContext($h)], [0, 1, 2], 'GetContext');
    is_deeply([AI::MXNetCAPI::NDArrayGetStorageType($h)], [0, 0], 'GetStorageType: dense');
    is(AI::MXNetCAPI::NDArraySyncCopyFromCPU($h, pack('d*', 1 .. 6), 6), 0, 'SyncCopyFromCPU');
    is(AI::MXNetCAPI::NDArraySyncCopyToCPU($h, my $buf, 6), 0, 'SyncCopyToCPU');
    is_deeply([unpack('d*', $buf)], [1 .. 6], 'the data came back');
    my ($rc2, $bytes) = AI::MXNetCAPI::NDArrayGetData($h, 16);
    is_deeply([unpack('d*', $bytes)], [1, 2], 'GetData copies the first bytes');
    is_deeply([AI::MXNetCAPI::NDArrayWaitToRead($h)], [0], 'WaitToRead');
    is_deeply([AI::MXNetCAPI::NDArrayWaitToWrite($h)], [0], 'WaitToWrite');
    is_deeply([AI::MXNetCAPI::NDArrayWaitAll()], [0], 'WaitAll');

    my (undef, $row) = AI::MXNetCAPI::NDArrayAt($h, 1);
    is_deeply([AI::MXNetCAPI::NDArrayGetShape($row)], [0, [3]], 'At gives row 1');
    AI::MXNetCAPI::NDArraySyncCopyFromCPU($row, pack('d*', 40, 50, 60), 3);
    AI::MXNetCAPI::NDArraySyncCopyToCPU($h, $buf, 6);
    is_deeply([unpack('d*', $buf)], [1, 2, 3, 40, 50, 60], 'a write through the view reaches the array');
    my (undef, $sl) = AI::MXNetCAPI::NDArraySlice($h, 0, 1);
    is_deeply([AI::MXNetCAPI::NDArrayGetShape($sl)], [0, [1, 3]], 'Slice');
    my (undef, $sl64) = AI::MXNetCAPI::NDArraySlice64($h, 1, 2);
    AI::MXNetCAPI::NDArraySyncCopyToCPU($sl64, $buf, 3);
    is_deeply([unpack('d*', $buf)], [40, 50, 60], 'Slice64 shares memory');
    my (undef, $r) = AI::MXNetCAPI::NDArrayReshape($h, 2, [3, -1]);
    is_deeply([AI::MXNetCAPI::NDArrayGetShape($r)], [0, [3, 2]], 'Reshape with -1');
    my (undef, $r64) = AI::MXNetCAPI::NDArrayReshape64($h, 1, [6], 0);
    is_deeply([AI::MXNetCAPI::NDArrayGetShape($r64)], [0, [6]], 'Reshape64');
    my (undef, $at64) = AI::MXNetCAPI::NDArrayAt64($r64, 5);
    AI::MXNetCAPI::NDArraySyncCopyToCPU($at64, $buf, 1);
    is_deeply([unpack('d*', $buf)], [60], 'At64');

    my (undef, $f) = AI::MXNetCAPI::NDArrayCreateEx([2, 3], 2, 1, 0, 0, 0);
    is(AI::MXNetCAPI::NDArraySyncCopyFromNDArray($f, $h, -1), 0, 'SyncCopyFromNDArray');
    is_deeply(read_f32($f, 6), [1, 2, 3, 40, 50, 60], 'converting float64 to float32');

    my ($rc3, $raw) = AI::MXNetCAPI::NDArraySaveRawBytes($h);
    is($rc3, 0, 'SaveRawBytes');
    my ($rc4, $back) = AI::MXNetCAPI::NDArrayLoadFromRawBytes($raw, length $raw);
    is($rc4, 0, 'LoadFromRawBytes');
    AI::MXNetCAPI::NDArraySyncCopyToCPU($back, $buf, 6);
    is_deeply([unpack('d*', $buf)], [1, 2, 3, 40, 50, 60], 'raw bytes round trip');

    my $file = tempdir(CLEANUP => 1) . '/arrays.params';
    is(AI::MXNetCAPI::NDArraySave($file, 2, [$h, $f], ['w', 'b']), 0, 'Save with names');
    my ($rc5, $handles, $names) = AI::MXNetCAPI::NDArrayLoad($file);
    is($rc5, 0, 'Load');
    is_deeply($names, ['w', 'b'], 'names');
    isa_ok($handles->[1], 'NDArrayHandle');
    is_deeply(read_f32($handles->[1], 6), [1, 2, 3, 40, 50, 60], 'loaded data');
    is(AI::MXNetCAPI::NDArraySave($file, 1, [$f]), 0, 'Save without names');
    is_deeply((AI::MXNetCAPI::NDArrayLoad($file))[2], [], 'no names');

    my (undef, $none) = AI::MXNetCAPI::NDArrayCreateNone();
    isa_ok($none, 'NDArrayHandle', 'CreateNone');
    my (undef, $plain) = AI::MXNetCAPI::NDArrayCreate([4], 1, 1, 0, 0);
    is_deeply([AI::MXNetCAPI::NDArrayGetDType($plain)], [0, 0], 'Create gives float32');
    my (undef, $big) = AI::MXNetCAPI::NDArrayCreateEx64([2, 2], 2, 1, 0, 0, 6);
    is_deeply([AI::MXNetCAPI::NDArrayGetDType($big)], [0, 6], 'CreateEx64 int64');

    is(AI::MXNetCAPI::_float_to_half(1.0), 0x3c00, '_float_to_half(1)');
    is(AI::MXNetCAPI::_half_to_float(0xc000), -2, '_half_to_float');
    is(AI::MXNetCAPI::_float_to_half(65520), 0x7c00, 'overflow rounds to inf');
    is(AI::MXNetCAPI::_half_to_float(1), 2**-24, 'smallest subnormal');
};

subtest 'int and string keys, several devices' => sub {
    my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    my @ones = map { f32([2, 2], (1) x 4) } 0 .. 2;
    is(AI::MXNetCAPI::KVStoreInit($kv, 2, [3, -5], [$ones[0], $ones[1]]), 0, 'Init int keys (negative too)');
    is(AI::MXNetCAPI::KVStorePush($kv, 3, [3, 3, 3], \@ones), 0, 'Push one key from 3 devices');
    my $out = f32([2, 2]);
    is(AI::MXNetCAPI::KVStorePull($kv, 1, [3], [$out]), 0, 'Pull');
    is_deeply(read_f32($out, 4), [3, 3, 3, 3], 'the sum of the three');
    my @outs = map { f32([2, 2]) } 0 .. 1;
    is(AI::MXNetCAPI::KVStorePullWithSparse($kv, 2, [-5, -5], \@outs, 0, 1), 0, 'PullWithSparse into two outputs');
    is_deeply(read_f32($_, 4), [1, 1, 1, 1], 'each output') for @outs;
    my $b = f32([2, 2], 7, 7, 7, 7);
    is(AI::MXNetCAPI::KVStoreBroadcast($kv, 1, [9], 1, [9], [$b], [$out]), 0, 'Broadcast');
    is_deeply(read_f32($out, 4), [7, 7, 7, 7], 'broadcast value');
    is(AI::MXNetCAPI::KVStorePushPull($kv, 1, [9], 1, [9], [$ones[2]], [$out]), 0, 'PushPull');
    is_deeply(read_f32($out, 4), [1, 1, 1, 1], 'pushed then pulled');
    is(AI::MXNetCAPI::KVStoreInitEx($kv, 1, ['x'], [$b]), -1, 'an int store refuses string keys');
    like(AI::MXNetCAPI::GetLastError(), qr/Mixed key types are not allowed/, 'with MXNet\'s message');

    my (undef, $skv) = AI::MXNetCAPI::KVStoreCreate('local');
    is(AI::MXNetCAPI::KVStoreInitEx($skv, 2, ['a', 'b'], [$b, $b]), 0, 'InitEx');
    is(AI::MXNetCAPI::KVStorePushEx($skv, 1, ['b'], [$ones[0]]), 0, 'PushEx, default priority');
    is(AI::MXNetCAPI::KVStorePullEx($skv, 1, ['b'], [$out]), 0, 'PullEx');
    is_deeply(read_f32($out, 4), [1, 1, 1, 1], 'value');
    is(AI::MXNetCAPI::KVStorePullWithSparseEx($skv, 1, ['a'], [$out]), 0, 'PullWithSparseEx');
    is_deeply(read_f32($out, 4), [7, 7, 7, 7], 'value');
    is(AI::MXNetCAPI::KVStoreBroadcastEx($skv, 1, ['c'], 1, ['c'], [$ones[1]], [$out]), 0, 'BroadcastEx');
    is(AI::MXNetCAPI::KVStorePushPullEx($skv, 1, ['c'], 1, ['a'], [$b], [$out]), 0, 'PushPullEx');
    is_deeply(read_f32($out, 4), [7, 7, 7, 7], 'value');
    is(AI::MXNetCAPI::KVStorePush($skv, 1, [1], [$b]), -1, 'a string store refuses int keys');
    like(AI::MXNetCAPI::GetLastError(), qr/Mixed key types are not allowed/, 'message');
    is(AI::MXNetCAPI::KVStoreSetGradientCompression($skv, 2, { type => '2bit', threshold => '0.5' }), 0,
        'SetGradientCompression takes a hash ref');
    is(AI::MXNetCAPI::KVStoreSetGradientCompression($skv, 1, { type => 'none' }), -1, 'an unknown type');
    like(AI::MXNetCAPI::GetLastError(), qr/Unknown type for gradient compression/, 'message');
};

subtest 'updaters' => sub {
    my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    my $v = f32([3], 1, 2, 3);
    AI::MXNetCAPI::KVStoreInitEx($kv, 3, ['p', 'q', 'r'], [$v, $v, $v]);
    my @calls;
    is(AI::MXNetCAPI::KVStoreSetUpdater($kv, sub {
        my ($key, $recv, $local) = @_;
        push @calls, [$key, ref $recv, ref $local];
        # local += recv, through the raw data
        AI::MXNetCAPI::NDArraySyncCopyToCPU($recv, my $r, 3);
        AI::MXNetCAPI::NDArraySyncCopyToCPU($local, my $l, 3);
        my @r = unpack('f*', $r);
        my @l = unpack('f*', $l);
        AI::MXNetCAPI::NDArraySyncCopyFromCPU($local, pack('f*', map { $l[$_] + $r[$_] } 0 .. 2), 3);
    }), 0, 'SetUpdater with a code ref');
    is(AI::MXNetCAPI::KVStorePushEx($kv, 2, ['r', 'p'], [$v, $v]), 0, 'PushEx runs the updater');
    is_deeply(\@calls, [[0, 'NDArrayHandle', 'NDArrayHandle'], [2, 'NDArrayHandle', 'NDArrayHandle']],
        'once per key, ascending, with the internal index and two handles');
    my $out = f32([3]);
    AI::MXNetCAPI::KVStorePullEx($kv, 1, ['r'], [$out]);
    is_deeply(read_f32($out, 3), [2, 4, 6], 'what the updater wrote is the stored value');

    @calls = ();
    is(AI::MXNetCAPI::KVStoreSetUpdaterEx($kv, sub { push @calls, $_[0] }), 0, 'SetUpdaterEx with one code ref');
    AI::MXNetCAPI::KVStorePushEx($kv, 1, ['q'], [$v]);
    is_deeply(\@calls, ['q'], 'a string store passes the string key');
    my (@int_calls, @str_calls);
    is(AI::MXNetCAPI::KVStoreSetUpdaterEx($kv, sub { push @int_calls, $_[0] }, sub { push @str_calls, $_[0] }),
        0, 'SetUpdaterEx with two code refs');
    AI::MXNetCAPI::KVStorePushEx($kv, 1, ['p'], [$v]);
    is_deeply([\@int_calls, \@str_calls], [[], ['p']], 'the string one serves the string store');

    is(AI::MXNetCAPI::KVStoreSetUpdater($kv, undef), 0, 'SetUpdater(undef) removes the updater');
    AI::MXNetCAPI::KVStorePushEx($kv, 1, ['r'], [$v]);
    AI::MXNetCAPI::KVStorePullEx($kv, 1, ['r'], [$out]);
    is_deeply(read_f32($out, 3), [1, 2, 3], 'a push now assigns');
    is_deeply(\@str_calls, ['p'], 'and calls nothing');
};

subtest 'updater handles are owned and freed exactly once' => sub {
    my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    my $v = f32([2], 5, 6);
    AI::MXNetCAPI::KVStoreInit($kv, 1, [1], [$v]);
    my ($borrowed, $kept);
    AI::MXNetCAPI::KVStoreSetUpdater($kv, sub {
        my ($key, $recv, $local) = @_;
        $borrowed = AI::MXNetCAPI::_borrow($recv);   # the same library handle, not owned
        $kept = $local;                              # keeps the local handle alive
    });
    no_warnings_from(sub { AI::MXNetCAPI::KVStorePush($kv, 1, [1], [$v]) }, 'push, the updater drops recv');
    is_deeply([AI::MXNetCAPI::NDArrayGetShape($borrowed)], [-1], 'recv was freed when its object went away');
    like(AI::MXNetCAPI::GetLastError(), qr/no longer valid/, 'the library says so');
    is_deeply([AI::MXNetCAPI::NDArrayGetShape($kept)], [0, [2]], 'a handle the updater kept stays valid');
    is_deeply(read_f32($kept, 2), [5, 6], 'and still shows the stored value');
    is(AI::MXNetCAPI::NDArrayFree($kept), 0, 'freeing it explicitly');
    is(AI::MXNetCAPI::NDArrayFree($kept), -1, 'a second free is refused');
    like(AI::MXNetCAPI::GetLastError(), qr/already freed/, 'as a double free');
    no_warnings_from(sub { undef $kept; undef $borrowed }, 'and destroying the objects frees nothing more');
};

subtest 'a die in an updater' => sub {
    my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    my $v = f32([2], 1, 1);
    AI::MXNetCAPI::KVStoreInit($kv, 3, [1, 2, 3], [$v, $v, $v]);
    my @seen;
    AI::MXNetCAPI::KVStoreSetUpdater($kv, sub {
        my ($key, $recv, $local) = @_;
        push @seen, $key;
        die "no update for key $key\n" if $key == 2;
        AI::MXNetCAPI::NDArraySyncCopyFromCPU($local, pack('f*', 9, 9), 2);
    });
    my @r = AI::MXNetCAPI::KVStorePush($kv, 3, [3, 2, 1], [$v, $v, $v]);
    is_deeply(\@r, [-1], 'the push fails');
    is(AI::MXNetCAPI::GetLastError(), 'MXNetError: Perl updater died: no update for key 2',
        'GetLastError gives the die message');
    is_deeply(\@seen, [1, 2], 'no Perl code ran after the die');
    my $out = f32([2]);
    AI::MXNetCAPI::KVStorePull($kv, 1, [1], [$out]);
    is_deeply(read_f32($out, 2), [9, 9], 'keys before it were updated');
    AI::MXNetCAPI::KVStorePull($kv, 1, [3], [$out]);
    is_deeply(read_f32($out, 2), [1, 1], 'keys after it kept their value');
    is($@, '', '$@ is left clean');

    @seen = ();
    is_deeply([AI::MXNetCAPI::KVStorePush($kv, 1, [3], [$v])], [0], 'the next push works');
    AI::MXNetCAPI::KVStorePull($kv, 1, [3], [$out]);
    is_deeply(read_f32($out, 2), [9, 9], 'and updates');
    is(AI::MXNetCAPI::KVStorePull($kv, 1, [42], [$out]), -1, 'a later library failure');
    like(AI::MXNetCAPI::GetLastError(), qr/key 42 has not been inited/, 'replaces the updater message');

    AI::MXNetCAPI::KVStoreSetUpdater($kv, sub {
        my ($key, $recv, $local) = @_;
        is(AI::MXNetCAPI::KVStorePull($kv, 1, [99], [$local]), -1, 'a failing call inside an updater');
        die { code => 7 };
    });
    is(AI::MXNetCAPI::KVStorePush($kv, 1, [1], [$v]), -1, 'a die with a reference');
    like(AI::MXNetCAPI::GetLastError(), qr/^MXNetError: Perl updater died: HASH\(/, 'is reported too');
};

subtest 'updaters that call the library and move the Perl stack' => sub {
    my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    my $one = f32([2], 1, 1);
    AI::MXNetCAPI::KVStoreInit($kv, 2, [1, 2], [$one, $one]);
    my $depth = 0;
    AI::MXNetCAPI::KVStoreSetUpdater($kv, sub {
        my ($key, $recv, $local) = @_;
        $depth++;
        my @spread = map { $_ } 1 .. 20_000 * $depth;    # grows (and moves) the Perl stack
        # a push of key 2 from inside the updaters, 30 deep
        is(AI::MXNetCAPI::KVStorePush($kv, 1, [2], [$recv]), 0, "nested push at depth $depth") if $depth < 30;
        AI::MXNetCAPI::NDArraySyncCopyToCPU($local, my $l, 2);
        AI::MXNetCAPI::NDArraySyncCopyToCPU($recv, my $r, 2);
        my @l = unpack('f*', $l);
        my @r = unpack('f*', $r);
        AI::MXNetCAPI::NDArraySyncCopyFromCPU($local, pack('f*', $l[0] + $r[0], $l[1] + $r[1]), 2);
    });
    my @r = AI::MXNetCAPI::KVStorePush($kv, 1, [1], [$one]);
    is_deeply(\@r, [0], 'the outer push returns (0) on a moved stack');
    is($depth, 30, 'every level ran');
    my $out = f32([2]);
    AI::MXNetCAPI::KVStorePull($kv, 1, [2], [$out]);
    is_deeply(read_f32($out, 2), [30, 30], 'key 2 got 29 nested updates of 1');
};

subtest 'updaters that replace themselves or free their store' => sub {
    my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    my $one = f32([2], 1, 1);
    AI::MXNetCAPI::KVStoreInit($kv, 3, [1, 2, 3], [$one, $one, $one]);
    my @calls;
    my $second = sub { push @calls, "second $_[0]" };
    AI::MXNetCAPI::KVStoreSetUpdater($kv, sub {
        push @calls, "first $_[0]";
        is(AI::MXNetCAPI::KVStoreSetUpdater($kv, $second), 0, 'SetUpdater from inside the updater');
    });
    is(AI::MXNetCAPI::KVStorePush($kv, 3, [1, 2, 3], [$one, $one, $one]), 0, 'the push goes on');
    is($calls[0], 'first 1', 'the first key met the first updater');
    is(scalar(@calls), 3, 'every key was updated once, by whichever updater the library held');
    @calls = ();
    AI::MXNetCAPI::KVStorePush($kv, 1, [2], [$one]);
    is_deeply(\@calls, ['second 2'], 'the next push uses the new updater');

    my $ran = 0;
    AI::MXNetCAPI::KVStoreSetUpdater($kv, sub {
        $ran++;
        AI::MXNetCAPI::KVStoreFree($kv) if $kv;
        undef $kv;    # the last reference to the store's handle object
    });
    no_warnings_from(sub {
        my @r = AI::MXNetCAPI::KVStorePush($kv, 3, [1, 2, 3], [$one, $one, $one]);
        ok(@r == 1 && ($r[0] == 0 || $r[0] == -1), "a push whose updater freed the store returns (rc $r[0])");
    }, 'without a crash or a second free');
    cmp_ok($ran, '>=', 1, 'the updater ran');
    ok(!defined $kv, 'the store is gone');
};

subtest 'an updater cannot leave through the library: last LABEL, exit' => sub {
    my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    my $one = f32([2], 1, 1);
    AI::MXNetCAPI::KVStoreInit($kv, 1, [1], [$one]);
    AI::MXNetCAPI::KVStoreSetUpdater($kv, sub { no warnings 'exiting'; last OUTER });
    my @rcs;
    OUTER: for my $round (1 .. 2) {
        push @rcs, AI::MXNetCAPI::KVStorePush($kv, 1, [1], [$one]);
    }
    is_deeply(\@rcs, [-1, -1], 'a `last OUTER` in the updater fails the push; the loop runs on');
    like(AI::MXNetCAPI::GetLastError(), qr/Perl updater died: Label not found for "last OUTER"/, 'message');

    my $dir = tempdir(CLEANUP => 1);
    open(my $fh, '>', "$dir/exit.pl") or die;
    print {$fh} <<'PERL';
use strict;
use warnings;
use AI::MXNetCAPI;
my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
my (undef, $v) = AI::MXNetCAPI::NDArrayCreateEx([2], 1, 1, 0, 0, 0);
AI::MXNetCAPI::KVStoreInit($kv, 2, [1, 2], [$v, $v]);
my $calls = 0;
AI::MXNetCAPI::KVStoreSetUpdater($kv, sub { $calls++; exit 3 });
AI::MXNetCAPI::KVStorePush($kv, 2, [1, 2], [$v, $v]);
print "not reached\n";
END {
    AI::MXNetCAPI::KVStoreSetUpdater($kv, undef);
    my $rc = AI::MXNetCAPI::KVStorePush($kv, 1, [2], [$v]);
    print "END: updater calls $calls, push rc $rc\n";
}
PERL
    close($fh);
    my $out = qx{"$^X" @{[ map { "-I$_" } @INC ]} "$dir/exit.pl" 2>&1};
    is($? >> 8, 3, 'exit(3) in an updater exits with 3 once the library has returned');
    is($out, "END: updater calls 1, push rc 0\n", 'END blocks run, the store still works, no other updater ran');
};

subtest 'bad arguments croak instead of reading past Perl data' => sub {
    my (undef, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    my $v = f32([2], 1, 2);
    dies_like(sub { AI::MXNetCAPI::KVStoreInit($kv, 2, [1], [$v]) }, qr/num is 2 but keys has 1 elements/,
        'num beyond the key list');
    dies_like(sub { AI::MXNetCAPI::KVStoreInit($kv, 1, [1], 'x') }, qr/vals must be an array reference/,
        'not an array ref');
    dies_like(sub { AI::MXNetCAPI::KVStoreInit($kv, 1, [1], [$kv]) }, qr/expected a NDArrayHandle/,
        'a store handle where an array handle belongs');
    dies_like(sub { AI::MXNetCAPI::KVStorePush($v, 1, [1], [$v]) }, qr/expected a KVStoreHandle/,
        'an array handle where a store handle belongs');
    dies_like(sub { AI::MXNetCAPI::KVStoreInit($kv, 1, ['one'], [$v]) }, qr/not a number/, 'a non-numeric int key');
    dies_like(sub { AI::MXNetCAPI::KVStoreInit($kv, 1, [2**40], [$v]) }, qr/not an integer in/, 'an int key out of range');
    dies_like(sub { AI::MXNetCAPI::NDArraySyncCopyFromCPU($v, pack('f', 1), 2) }, qr/buffer holds 4 bytes/,
        'a buffer shorter than size');
    dies_like(sub { AI::MXNetCAPI::NDArrayGetData($v, 9) }, qr/holds 8/, 'GetData beyond the array');
    dies_like(sub { AI::MXNetCAPI::NDArrayCreateEx([-1], 1, 1, 0, 0, 0) }, qr/not an integer in/, 'a negative dimension');
    dies_like(sub { AI::MXNetCAPI::KVStoreSetUpdater($kv, 'main::f') }, qr/must be a code reference/, 'an updater name');
    is_deeply([AI::MXNetCAPI::KVStoreInit($kv, 1, [1], [undef])], [-1], 'undef is a NULL handle');
    like(AI::MXNetCAPI::GetLastError(), qr/NULL/, 'which the library refuses');
    is_deeply([AI::MXNetCAPI::KVStoreInit($kv, 0, undef, undef)], [0], 'num 0 with no lists');
};

done_testing;
