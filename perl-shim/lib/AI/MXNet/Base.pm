package AI::MXNet::Base;
use strict;
use warnings;
use Carp qw(confess);
use Exporter qw(import);
use List::Util ();
use PDL::Lite;
use AI::MXNetCAPI;

# The helpers AI::MXNet::Base exports by default, and those it exports on request.
our @EXPORT = qw(
    check_call assert product zip enumerate bisect_left as_array pdl cat dog
    DTYPE_STR_TO_MX DTYPE_MX_TO_STR DTYPE_MX_TO_PDL
    STORAGE_TYPE_UNDEFINED STORAGE_TYPE_DEFAULT STORAGE_TYPE_ROW_SPARSE STORAGE_TYPE_CSR
    STORAGE_TYPE_STR_TO_ID STORAGE_TYPE_ID_TO_STR
);
our @EXPORT_OK = qw(pzeros pones pceil digitize array_index range);

# MXNet's dtype codes (reference §2.1) and the PDL type that holds each one in Perl.
# float16 and bfloat16 have no PDL type: they are shown as float.
use constant DTYPE_STR_TO_MX => {
    float32 => 0, float64 => 1, float16 => 2, uint8  => 3, int32  => 4, int8   => 5, int64 => 6,
    bool    => 7, int16   => 8, uint16  => 9, uint32 => 10, uint64 => 11, bfloat16 => 12,
};
use constant DTYPE_MX_TO_STR => { map { DTYPE_STR_TO_MX->{$_} => $_ } keys %{ DTYPE_STR_TO_MX() } };
use constant DTYPE_MX_TO_PDL => {
    0 => 'float', 1 => 'double', 2 => 'float', 3 => 'byte', 4 => 'long', 5 => 'sbyte',
    6 => 'longlong', 7 => 'byte', 8 => 'short', 9 => 'ushort', 10 => 'ulong', 11 => 'ulonglong',
    12 => 'float',
};

# Storage types (reference §2.1).
use constant {
    STORAGE_TYPE_UNDEFINED  => -1,
    STORAGE_TYPE_DEFAULT    => 0,
    STORAGE_TYPE_ROW_SPARSE => 1,
    STORAGE_TYPE_CSR        => 2,
};
use constant STORAGE_TYPE_STR_TO_ID => {
    undefined => STORAGE_TYPE_UNDEFINED, default => STORAGE_TYPE_DEFAULT,
    row_sparse => STORAGE_TYPE_ROW_SPARSE, csr => STORAGE_TYPE_CSR,
};
use constant STORAGE_TYPE_ID_TO_STR => { map { STORAGE_TYPE_STR_TO_ID->{$_} => $_ } keys %{ STORAGE_TYPE_STR_TO_ID() } };

# PDL's constructors under AI::MXNet's names.
*pdl    = \&PDL::Core::pdl;
*cat    = \&PDL::Core::cat;
*dog    = \&PDL::Core::dog;
*pzeros = \&PDL::Core::zeros;
*pones  = \&PDL::Core::ones;
sub pceil { PDL::ceil(@_) }

# AI::MXNet's reading of PDL: `$pdl->at($i)` of a piddle of several dimensions is row $i (the
# last PDL dimension, MXNet's first), and `$pdl->len` is the number of rows.
{
    my $element_at = PDL->can('at');
    no warnings 'redefine';
    *PDL::at = sub {
        my ($self, @index) = @_;
        return $element_at->($self, @index) if @index != 1 or $self->ndims <= 1;
        return $self->slice((':') x ($self->ndims - 1), $index[0])->squeeze;
    };
    *PDL::len = sub { $_[0]->dim(-1) };
}

# check_call(AI::MXNetCAPI::Something(...)): dies with the library's message when the return code
# is not 0, else gives the outputs (the first one in scalar context).
sub check_call
{
    my $rc = shift;
    confess(AI::MXNetCAPI::GetLastError()) if $rc;
    return wantarray ? @_ : $_[0];
}

sub assert
{
    my ($cond, $msg) = @_;
    local $Carp::CarpLevel = 1;
    confess($msg // 'AssertionError') unless $cond;
}

sub product
{
    my $p = 1;
    $p *= $_ for @_;
    return $p;
}

# zip([1, 2], ['a', 'b']) gives ([1, 'a'], [2, 'b']) up to the shortest list, as Python's zip;
# zip(sub { ... }, @lists) calls the sub with each tuple instead.
sub zip
{
    my $code = ref $_[0] eq 'CODE' ? shift : undef;
    confess('zip: the arguments must be array refs') if grep { ref $_ ne 'ARRAY' } @_;
    my $len = @_ ? List::Util::min(map { scalar @$_ } @_) : 0;
    my @tuples = map { my $i = $_; [map { $_->[$i] } @_] } 0 .. $len - 1;
    return @tuples unless $code;
    $code->(@$_) for @tuples;
    return;
}

# zip with the index first: enumerate(['a', 'b']) gives ([0, 'a'], [1, 'b']).
sub enumerate
{
    my $code = ref $_[0] eq 'CODE' ? shift : undef;
    confess('enumerate: the arguments must be array refs') if not @_ or ref $_[0] ne 'ARRAY';
    return zip($code // (), [0 .. $#{ $_[0] }], @_);
}

# The index where $x would be inserted into the sorted @$list, left of equal elements.
sub bisect_left
{
    my ($list, $x, $lo, $hi) = @_;
    $lo //= 0;
    $hi //= @$list;
    confess('lo must be non-negative') if $lo < 0;
    while ($lo < $hi) {
        my $mid = int(($lo + $hi) / 2);
        if ($list->[$mid] < $x) { $lo = $mid + 1 } else { $hi = $mid }
    }
    return $lo;
}

sub as_array { ref $_[0] eq 'ARRAY' ? $_[0] : [$_[0]] }

# The number of bin edges in @$bins that $x is not below.
sub digitize
{
    my ($x, $bins) = @_;
    for my $i (0 .. $#$bins) {
        return $i if $x < $bins->[$i];
    }
    return scalar @$bins;
}

sub array_index
{
    my ($item, $list) = @_;
    return List::Util::first { $list->[$_] eq $item } 0 .. $#$list;
}

# Python's range(begin, end, step) as a list.
sub range
{
    my ($begin, $end, $step) = @_;
    $step //= 1;
    confess('range: step must be positive') unless $step > 0;
    return grep { not(($_ - $begin) % $step) } $begin .. $end - 1;
}

1;

__END__

=head1 NAME

AI::MXNet::Base - helpers shared by the AI::MXNet modules, with AI::MXNet::Base's exports

=head1 FUNCTIONS

Exported by default: C<check_call(@result)> (an C<AI::MXNetCAPI> result to its outputs, or a
C<confess> with C<GetLastError()>), C<assert($cond, $msg)>, C<product(@n)>, C<zip(@lists)> and
C<zip(sub { ... }, @lists)>, C<enumerate>, C<bisect_left>, C<as_array>, PDL's C<pdl>, C<cat>,
C<dog>, the dtype maps C<DTYPE_STR_TO_MX>, C<DTYPE_MX_TO_STR>, C<DTYPE_MX_TO_PDL> and the
storage-type constants C<STORAGE_TYPE_*>. On request: C<pzeros>, C<pones>, C<pceil> (PDL's
C<zeros>, C<ones>, C<ceil>), C<digitize>, C<array_index>, C<range>.

=cut
