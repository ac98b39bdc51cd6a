package AI::MXNetCAPI;
use strict;
use warnings;
use XSLoader;

our $VERSION = '0.01';
XSLoader::load('AI::MXNetCAPI', $VERSION);

1;

__END__

=head1 NAME

AI::MXNetCAPI - the mxkv C API for Perl, called the way MXNet's Perl binding calls it

=head1 SYNOPSIS

    use AI::MXNetCAPI;

    my ($rc, $kv) = AI::MXNetCAPI::KVStoreCreate('local');
    die AI::MXNetCAPI::GetLastError() if $rc;

    ($rc, my $nd) = AI::MXNetCAPI::NDArrayCreateEx([2, 3], 2, 1, 0, 0, 0);   # float32 on cpu(0)
    AI::MXNetCAPI::NDArraySyncCopyFromCPU($nd, pack('f*', 1 .. 6), 6);
    AI::MXNetCAPI::KVStoreInitEx($kv, 1, ['w'], [$nd]);

    AI::MXNetCAPI::KVStoreSetUpdater($kv, sub {
        my ($index, $recv, $local) = @_;      # NDArrayHandle objects, freed when they go away
        ...
    });

    AI::MXNetCAPI::KVStorePushEx($kv, 1, ['w'], [$nd], 0);
    AI::MXNetCAPI::KVStorePullWithSparseEx($kv, 1, ['w'], [$nd], 0, 1);
    AI::MXNetCAPI::NDArraySyncCopyToCPU($nd, my $bytes, 6);
    my @values = unpack('f*', $bytes);

=head1 DESCRIPTION

A hand-written XS binding of the mxkv library with the calling convention of the SWIG-generated
C<AI::MXNetCAPI> of MXNet 1.x, so that C<AI::MXNet> code written for MXNet runs unchanged:

=over

=item * every C function C<MXName> is C<AI::MXNetCAPI::Name>;

=item * every function returns the C return code first, then its outputs, the outputs only when
the code is 0: C<($rc, @outputs)>. C<GetLastError()> gives the message of the last failure;

=item * handles are objects blessed into C<KVStoreHandle> and C<NDArrayHandle>; C<undef> passes
a NULL handle (which the library refuses with a message);

=item * key and handle lists are array refs (C<num> must not exceed their length), compression
parameters a hash ref, updaters and the server controller code refs.

=back

=head2 Handles are owned

A handle object frees its library handle when it is destroyed, unless C<NDArrayFree> or
C<KVStoreFree> was called on it first; either way the library handle is freed exactly once.
This covers the C<recv> and C<local> handles an updater receives, which the library hands over
to the callee.

=head2 Callbacks

C<KVStoreSetUpdater($kv, $code)> installs C<$code> as the int-key updater; it is called as
C<< $code->($key, $recv, $local) >> on the Perl thread, during the push that triggers it.
C<KVStoreSetUpdaterEx($kv, $code [, $str_code])> installs string-key updaters as well (one code ref
serves both kinds). C<undef> removes the updater. C<KVStoreRunServer($kv, $controller)> calls
C<< $controller->($head, $body) >> for each command a worker sends.

Nothing a callback does unwinds through the library. A callback runs on a Perl stack of its own
under C<eval>: after a C<die> (or a C<last LABEL> aimed at a loop outside it) the remaining keys
of that push are left unchanged, the push returns -1, and C<GetLastError()> gives
C<MXNetError: Perl updater died: ...>. An C<exit> inside a callback takes effect when the library
call has returned. A dying server controller is reported with C<warn> and the server goes on;
C<RunServer> then returns -1 when it ends. Callbacks may call the library, also on the same store
(nested pushes, C<KVStoreSetUpdater>, even C<KVStoreFree>).

=head2 Functions

KVStore: C<KVStoreCreate>, C<KVStoreFree>, C<KVStoreSetGradientCompression>, C<KVStoreInit>,
C<KVStoreInitEx>, C<KVStorePush>, C<KVStorePushEx>, C<KVStorePull>, C<KVStorePullEx>,
C<KVStorePullWithSparse>, C<KVStorePullWithSparseEx>, C<KVStoreBroadcast>, C<KVStoreBroadcastEx>,
C<KVStorePushPull>, C<KVStorePushPullEx>, C<KVStoreSetUpdater>, C<KVStoreSetUpdaterEx>,
C<KVStoreGetType>, C<KVStoreGetRank>, C<KVStoreGetGroupSize>, C<KVStoreIsWorkerNode>,
C<KVStoreIsServerNode>, C<KVStoreIsSchedulerNode>, C<KVStoreBarrier>,
C<KVStoreSetBarrierBeforeExit>, C<KVStoreRunServer>, C<KVStoreSendCommmandToServers>,
C<KVStoreGetNumDeadNode>; C<KVStorePullRowSparse> and C<KVStorePullRowSparseEx> when the library
has row_sparse storage. The mxkv extensions of native optimizers:
C<KVStoreSetOptimizer($kv, $name, $num, \@keys, \@vals)>,
C<KVStoreSaveOptimizerStates($kv, $fname)>, C<KVStoreLoadOptimizerStates($kv, $fname)> and
C<KVOptimizerUpdate($op, $num_arrays, \@handles, $num_params, \@keys, \@vals)> (one update
operator in place; C<MXKVOptimizerUpdate> of the C API).

NDArray: C<NDArrayCreateNone>, C<NDArrayCreate>, C<NDArrayCreateEx>, C<NDArrayCreateEx64>,
C<NDArraySyncCopyFromCPU($h, $bytes, $count)>, C<NDArraySyncCopyToCPU($h, $buffer, $count)> (writes
into C<$buffer>), C<NDArraySyncCopyFromNDArray>, C<NDArrayWaitToRead>, C<NDArrayWaitToWrite>,
C<NDArrayWaitAll>, C<NDArrayFree>, C<NDArrayGetShape>, C<NDArrayGetShapeEx>, C<NDArrayGetShapeEx64>
(array refs), C<NDArrayGetDType>, C<NDArrayGetContext> (dev_type, dev_id),
C<NDArrayGetStorageType>, C<NDArrayGetData($h, $nbytes)> (a copy of the first bytes),
C<NDArrayReshape>, C<NDArrayReshape64>, C<NDArraySlice>, C<NDArraySlice64>, C<NDArrayAt>,
C<NDArrayAt64>, C<NDArraySave>, C<NDArrayLoad> (array refs of handles and names),
C<NDArraySaveRawBytes>, C<NDArrayLoadFromRawBytes>; the sparse accessors when the library has them.

Others: C<GetLastError>, C<GetVersion> (10901), C<KVGetVersion> (mxkv's own), C<NotifyShutdown>,
C<_half_to_float>, C<_float_to_half>.

=cut
