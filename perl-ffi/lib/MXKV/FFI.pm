package MXKV::FFI;

# mxkv's C API from Perl through FFI::Platypus alone: no XS, no compiler, no SWIG.
# The functions keep their C names and signatures; the subs below turn Perl lists into
# float32 NDArrays and back, and return codes into exceptions carrying MXGetLastError().

use strict;
use warnings;
use Carp qw(croak);
use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use FFI::CheckLib qw(find_lib);
use FFI::Platypus 1.00;
use FFI::Platypus::Buffer qw(scalar_to_buffer);

our $VERSION = '0.1.0';

# The library: $MXKV_LIBRARY, else the source tree's target/release, else the system's libmxkv.
sub library_path {
    return $ENV{MXKV_LIBRARY} if $ENV{MXKV_LIBRARY};
    my $repo = abs_path(dirname(__FILE__) . '/../../..');
    my $built = "$repo/target/release/libmxkv.so";
    return $built if -f $built;
    my ($system) = find_lib(lib => 'mxkv');
    return $system // croak('cannot find libmxkv: set MXKV_LIBRARY or build it with cargo build --release');
}

my $ffi = FFI::Platypus->new(api => 1, lib => [library_path()]);

# Updater callbacks (MXKVStoreUpdater / MXKVStoreStrUpdater): key, recv, local, user handle.
$ffi->type('(int, opaque, opaque, opaque)->void' => 'mx_updater');
$ffi->type('(string, opaque, opaque, opaque)->void' => 'mx_str_updater');

my %functions = (
    MXGetLastError            => [[] => 'string'],
    MXGetVersion              => [['int*'] => 'int'],
    MXKVStoreCreate           => [['string', 'opaque*'] => 'int'],
    MXKVStoreFree             => [['opaque'] => 'int'],
    MXKVStoreGetType          => [['opaque', 'opaque*'] => 'int'],
    MXKVStoreGetRank          => [['opaque', 'int*'] => 'int'],
    MXKVStoreGetGroupSize     => [['opaque', 'int*'] => 'int'],
    MXKVStoreInit             => [['opaque', 'uint32', 'int[]', 'opaque[]'] => 'int'],
    MXKVStoreInitEx           => [['opaque', 'uint32', 'string[]', 'opaque[]'] => 'int'],
    MXKVStorePush             => [['opaque', 'uint32', 'int[]', 'opaque[]', 'int'] => 'int'],
    MXKVStorePushEx           => [['opaque', 'uint32', 'string[]', 'opaque[]', 'int'] => 'int'],
    MXKVStorePull             => [['opaque', 'uint32', 'int[]', 'opaque[]', 'int'] => 'int'],
    MXKVStorePullEx           => [['opaque', 'uint32', 'string[]', 'opaque[]', 'int'] => 'int'],
    MXKVStoreSetUpdater       => [['opaque', 'mx_updater', 'opaque'] => 'int'],
    MXKVStoreSetUpdaterEx     => [['opaque', 'mx_updater', 'mx_str_updater', 'opaque'] => 'int'],
    MXNDArrayCreateEx         => [['uint32[]', 'uint32', 'int', 'int', 'int', 'int', 'opaque*'] => 'int'],
    MXNDArraySyncCopyFromCPU  => [['opaque', 'float[]', 'size_t'] => 'int'],
    MXNDArraySyncCopyToCPU    => [['opaque', 'opaque', 'size_t'] => 'int'],
    MXNDArrayGetShapeEx       => [['opaque', 'int*', 'opaque*'] => 'int'],
    MXNDArrayFree             => [['opaque'] => 'int'],
);
$ffi->attach($_ => @{ $functions{$_} }) for sort keys %functions;

our @EXPORT_OK = (sort(keys %functions), qw(check nd_new nd_values nd_size closure c_string library_path));
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# Dies with the library's message when a call returned non-zero.
sub check {
    my ($rc) = @_;
    croak(MXGetLastError()) if $rc != 0;
    return;
}

# A float32 NDArray of shape \@shape on cpu($dev_id) holding @$values.
sub nd_new {
    my ($shape, $values, $dev_id) = @_;
    my $handle;
    check(MXNDArrayCreateEx($shape, scalar(@$shape), 1, $dev_id // 0, 0, 0, \$handle));
    check(MXNDArraySyncCopyFromCPU($handle, $values, scalar(@$values)));
    return $handle;
}

# Number of elements of an NDArray.
sub nd_size {
    my ($handle) = @_;
    my ($ndim, $dims);
    check(MXNDArrayGetShapeEx($handle, \$ndim, \$dims));
    my $size = 1;
    $size *= $_ for @{ $ffi->cast('opaque', "int[$ndim]", $dims) };
    return $size;
}

# The values of a float32 NDArray, as a Perl list.
sub nd_values {
    my ($handle) = @_;
    my $n = nd_size($handle);
    my $buf = "\0" x (4 * $n);
    my ($ptr) = scalar_to_buffer($buf);
    check(MXNDArraySyncCopyToCPU($handle, $ptr, $n));
    return unpack('f*', $buf);
}

# The C string at a pointer (e.g. MXKVStoreGetType's result).
sub c_string {
    my ($ptr) = @_;
    return $ffi->cast('opaque', 'string', $ptr);
}

# A C function pointer for a Perl sub (keep the returned object alive while C may call it).
sub closure {
    my ($code) = @_;
    return $ffi->closure($code);
}

1;
