package AI::MXNet::TestUtils;
use strict;
use warnings;
use Carp qw(confess);
use Exporter qw(import);
use Scalar::Util qw(blessed);
use PDL::Lite;
use AI::MXNet::Base qw(zip enumerate assert pdl);
use AI::MXNet::NDArray;

# AI::MXNet::TestUtils' helpers for the KVStore and optimizer tests; those for symbols,
# executors and data sets (mlp2, conv, check_consistency, GetMNIST_ubyte, ...) are outside
# mxkv's scope.
our @EXPORT_OK = qw(
    same allclose reldiff almost_equal pdl_maximum pdl_minimum same_array dies_like dies_ok
    random_arrays rand_ndarray rand_sparse_ndarray rand_shape_2d rand_shape_3d rand_shape_nd randint
    zip enumerate assert pdl
);

use constant default_numerical_threshold => 1e-6;

sub _check_pdls
{
    my $what = shift;
    confess("$what: the arguments must be PDLs") if grep { not(blessed($_) and $_->isa('PDL')) } @_;
}

sub _is_nan { my $x = shift; $x != $x }

# The same shape and elements (NaN equal to NaN).
sub same
{
    my ($a, $b) = @_;
    _check_pdls('same', $a, $b);
    return 0 unless join(',', $a->dims) eq join(',', $b->dims);
    my $differ = ($a != $b) & !(_is_nan($a) & _is_nan($b));
    return $differ->sum == 0 ? 1 : 0;
}

# Every |a - b| <= $threshold (1e-6 by default).
sub allclose
{
    my ($a, $b, $threshold) = @_;
    _check_pdls('allclose', $a, $b);
    return (($a - $b)->abs <= ($threshold // default_numerical_threshold))->min ? 1 : 0;
}

# sum|a - b| / (sum|a| + sum|b|), 0 when a and b are equal.
sub reldiff
{
    my ($a, $b) = @_;
    _check_pdls('reldiff', $a, $b);
    my $diff = ($a - $b)->abs->sum;
    return 0 if $diff == 0;
    return $diff / ($a->abs->sum + $b->abs->sum);
}

# reldiff(a, b) <= $threshold (1e-6 by default).
sub almost_equal
{
    my ($a, $b, $threshold) = @_;
    return reldiff($a, $b) <= ($threshold // default_numerical_threshold) ? 1 : 0;
}

sub _pdl_pick
{
    my ($a, $b, $take_b) = @_;
    _check_pdls('pdl_maximum/pdl_minimum', $a);
    $b = PDL::Core::zeros($a->type, $a->dims) + $b unless blessed($b);
    my $out = $a->copy;
    my $mask = $take_b->($a, $b);
    $out->where($mask) .= $b->where($mask);
    return $out;
}

sub pdl_maximum { _pdl_pick(@_[0, 1], sub { $_[0] < $_[1] }) }
sub pdl_minimum { _pdl_pick(@_[0, 1], sub { $_[0] > $_[1] }) }

# Whether two NDArrays share their memory: a change to the first shows in the second.
sub same_array
{
    my ($array1, $array2) = @_;
    confess('same_array: the arguments must be NDArrays')
        if grep { not(blessed($_) and $_->isa('AI::MXNet::NDArray')) } $array1, $array2;
    $array1 += 1;
    my $followed = same($array1->aspdl, $array2->aspdl);
    $array1 -= 1;
    return $followed && same($array1->aspdl, $array2->aspdl) ? 1 : 0;
}

# Runs $code; true when it died with a message matching $regexp (else warns what happened).
sub dies_like
{
    my ($code, $regexp) = @_;
    my $lived = eval { $code->(); 1 };
    return 1 if not $lived and $@ =~ $regexp;
    warn($lived ? "did not die\n" : $@);
    return 0;
}

# A Test::More check that $code dies.
sub dies_ok
{
    my ($code, $name) = @_;
    my $lived = eval { $code->(); 1 };
    Test::More::ok(!$lived, $name);
}

# float PDLs of uniform [0, 1) values, one per shape (array refs, MXNet's order of dimensions).
sub random_arrays
{
    my @arrays = map { PDL->random(PDL::float(), reverse @$_) } @_;
    return @arrays > 1 ? @arrays : $arrays[0];
}

# An NDArray of random values (rand_ndarray($shape, $stype, $density, $dtype)); a sparse $stype
# gives rand_sparse_ndarray's array.
sub rand_ndarray
{
    my ($shape, $stype, $density, $dtype) = @_;
    $stype //= 'default';
    return (rand_sparse_ndarray($shape, $stype, $density, $dtype))[0] unless $stype eq 'default';
    return AI::MXNet::NDArray->array(random_arrays($shape), dtype => $dtype // 'float32');
}

# A random row_sparse array (each row stored with probability $density, random by default) or
# csr matrix (each value), uniform in [0, 1), with its stored values and ids as PDLs:
# ($arr, $data, $indices).
sub rand_sparse_ndarray
{
    my ($shape, $stype, $density, $dtype) = @_;
    $density //= rand();
    my $dense = random_arrays($shape);
    my $keep = $stype eq 'row_sparse' ? PDL->random($shape->[0]) < $density
             : $stype eq 'csr'        ? PDL->random(reverse @$shape) < $density
             : confess("rand_sparse_ndarray: unknown storage type '$stype'");
    # A row is MXNet's first dimension, PDL's last, whatever the number of dimensions.
    $dense *= $keep->reshape((1) x (@$shape - 1), $shape->[0]) if $stype eq 'row_sparse';
    $dense *= $keep if $stype eq 'csr';
    my $arr = AI::MXNet::NDArray::Sparse->array($dense, stype => $stype, dtype => $dtype // 'float32');
    return ($arr, $arr->data->aspdl, $arr->indices->aspdl);
}

sub rand_shape_2d
{
    my ($dim0, $dim1) = @_;
    return [map { int(rand($_)) + 1 } $dim0 // 10, $dim1 // 10];
}

sub rand_shape_3d
{
    my ($dim0, $dim1, $dim2) = @_;
    return [map { int(rand($_)) + 1 } $dim0 // 10, $dim1 // 10, $dim2 // 10];
}

sub rand_shape_nd
{
    my ($num_dim, $dim) = @_;
    return [map { int(rand($dim // 10)) + 1 } 1 .. $num_dim];
}

# An integer in [$low, $high) (AI::MXNet's randint: values below $low are raised to it).
sub randint
{
    my ($low, $high) = @_;
    my $value = int(rand($high // 10));
    return $value < ($low // 0) ? $low // 0 : $value;
}

1;

__END__

=head1 NAME

AI::MXNet::TestUtils - AI::MXNet's test helpers for KVStore and optimizer tests

=head1 SYNOPSIS

    use AI::MXNet::TestUtils qw(same reldiff almost_equal rand_ndarray zip);

    ok(almost_equal($w1->aspdl, $w2->aspdl));           # reldiff <= 1e-6
    my $x = rand_ndarray([3, 4], 'default');

=head1 FUNCTIONS

On request, with AI::MXNet's interface: C<same>, C<allclose>, C<reldiff>, C<almost_equal>,
C<pdl_maximum>, C<pdl_minimum> (on PDLs), C<same_array> (NDArrays sharing memory),
C<dies_like>, C<dies_ok>, C<random_arrays>, C<rand_ndarray> (dense), C<rand_shape_2d>,
C<rand_shape_3d>, C<rand_shape_nd>, C<randint>, and AI::MXNet::Base's C<zip>, C<enumerate>,
C<assert>, C<pdl>.

=cut
