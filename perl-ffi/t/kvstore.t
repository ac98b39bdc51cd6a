# mxkv through FFI::Platypus (no XS): init/push/pull with int and string keys, updaters written in
# Perl, and errors reported through MXGetLastError.
use strict;
use warnings;
use FindBin qw($Bin);
use lib "$Bin/../lib";
use Test::More;
use MXKV::FFI qw(:all);

my @shape = (2, 3);

sub store {
    my ($name) = @_;
    my $kv;
    check(MXKVStoreCreate($name, \$kv));
    return $kv;
}

subtest 'version, type, rank, group size' => sub {
    my $version;
    check(MXGetVersion(\$version));
    is($version, 10901, 'MXGetVersion gives 10901');
    my $kv = store('Local_Update_CPU');
    my ($type, $rank, $size);
    check(MXKVStoreGetType($kv, \$type));
    is(c_string($type), 'local_update_cpu', 'type is the lower-cased name');
    check(MXKVStoreGetRank($kv, \$rank));
    check(MXKVStoreGetGroupSize($kv, \$size));
    is_deeply([$rank, $size], [0, 1], 'rank 0 of 1');
    check(MXKVStoreFree($kv));
};

subtest 'int keys: init, push from four devices, pull' => sub {
    my $kv = store('local');
    my $init = nd_new(\@shape, [0 .. 5]);
    check(MXKVStoreInit($kv, 1, [3], [$init]));
    my $out = nd_new(\@shape, [(0) x 6]);
    check(MXKVStorePull($kv, 1, [3], [$out], 0));
    is_deeply([nd_values($out)], [0 .. 5], 'pull after init');
    my @grads = map { nd_new(\@shape, [($_ + 1) x 6], $_) } 0 .. 3;
    check(MXKVStorePush($kv, 4, [(3) x 4], \@grads, 0));
    my @outs = map { nd_new(\@shape, [(0) x 6], $_) } 0 .. 2;
    check(MXKVStorePull($kv, 3, [(3) x 3], \@outs, 0));
    is_deeply([nd_values($_)], [(10) x 6], 'each output holds the sum 1+2+3+4') for @outs;
    check(MXNDArrayFree($_)) for $init, $out, @grads, @outs;
    check(MXKVStoreFree($kv));
};

subtest 'int updater written in Perl' => sub {
    my $kv = store('local');
    my @inits = map { nd_new(\@shape, [($_) x 6]) } 1, 100;
    check(MXKVStoreInit($kv, 2, [7, 2], \@inits));
    my @calls;
    my $updater = closure(sub {
        my ($key, $recv, $local) = @_;
        my @r = nd_values($recv);
        my @l = nd_values($local);
        push @calls, [$key, $r[0]];
        $l[$_] += 2 * $r[$_] for 0 .. $#l;
        check(MXNDArraySyncCopyFromCPU($local, \@l, scalar @l));
        check(MXNDArrayFree($recv));
        check(MXNDArrayFree($local));
    });
    check(MXKVStoreSetUpdater($kv, $updater, undef));
    my @grads = map { nd_new(\@shape, [($_) x 6]) } 1, 2, 5;
    check(MXKVStorePush($kv, 3, [7, 7, 2], \@grads, 0));
    is_deeply(\@calls, [[2, 5], [7, 3]], 'once per key, ascending, recv is the sum');
    my @outs = map { nd_new(\@shape, [(0) x 6]) } 1, 2;
    check(MXKVStorePull($kv, 2, [7, 2], \@outs, 0));
    is_deeply([nd_values($outs[0])], [(1 + 2 * 3) x 6], 'key 7: 1 + 2*3');
    is_deeply([nd_values($outs[1])], [(100 + 2 * 5) x 6], 'key 2: 100 + 2*5');
    check(MXNDArrayFree($_)) for @inits, @grads, @outs;
    check(MXKVStoreFree($kv));
};

subtest 'string keys with MXKVStoreSetUpdaterEx' => sub {
    my $kv = store('local');
    my @inits = map { nd_new(\@shape, [(0) x 6]) } 1, 2;
    check(MXKVStoreInitEx($kv, 2, ['w', 'b'], \@inits));
    my @seen;
    my $update = sub {
        my ($key, $recv, $local) = @_;
        push @seen, $key;
        my @r = nd_values($recv);
        check(MXNDArraySyncCopyFromCPU($local, [map { -$_ } @r], scalar @r));
        check(MXNDArrayFree($recv));
        check(MXNDArrayFree($local));
    };
    my ($int_cb, $str_cb) = (closure($update), closure($update));
    check(MXKVStoreSetUpdaterEx($kv, $int_cb, $str_cb, undef));
    my @grads = map { nd_new(\@shape, [($_) x 6]) } 4, 6;
    check(MXKVStorePushEx($kv, 2, ['b', 'w'], \@grads, 0));
    is_deeply(\@seen, ['w', 'b'], 'string updater, in registration order');
    my $out = nd_new(\@shape, [(0) x 6]);
    check(MXKVStorePullEx($kv, 1, ['b'], [$out], 0));
    is_deeply([nd_values($out)], [(-4) x 6], 'updater result stored');
    check(MXNDArrayFree($_)) for @inits, @grads, $out;
    check(MXKVStoreFree($kv));
};

subtest 'errors come back as -1 and a message' => sub {
    my $kv = store('local');
    my $a = nd_new(\@shape, [(1) x 6]);
    check(MXKVStoreInit($kv, 1, [3], [$a]));
    is(MXKVStoreInit($kv, 1, [3], [$a]), -1, 'duplicate init fails');
    like(MXGetLastError(), qr/^MXNetError: .*duplicate init of key 3/, 'with MXNet\'s message');
    is(MXKVStoreInitEx($kv, 1, ['x'], [$a]), -1, 'string key in an int store fails');
    like(MXGetLastError(), qr/Mixed key types are not allowed/, 'mixed key types');
    my $wrong = nd_new([3, 2], [(0) x 6]);
    is(MXKVStorePull($kv, 1, [3], [$wrong], 0), -1, 'pull into a wrong shape fails');
    like(MXGetLastError(), qr/operands shape mismatch/, 'shape mismatch');
    eval { check(MXKVStorePull($kv, 1, [99], [$a], 0)) };
    like($@, qr/key 99 has not been inited/, 'check() dies with the message');
    check(MXNDArrayFree($wrong));
    is(MXNDArrayFree($wrong), -1, 'a second free is refused, not a crash');
    check(MXNDArrayFree($a));
    check(MXKVStoreFree($kv));
};

done_testing();
