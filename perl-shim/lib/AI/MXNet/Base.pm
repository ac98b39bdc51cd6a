package AI::MXNet::Base;
use strict;
use warnings;
use Carp qw(confess);
use Exporter qw(import);
use AI::MXNetCAPI;

our @EXPORT = qw(
    check_call assert product
    DTYPE_STR_TO_MX DTYPE_MX_TO_STR DTYPE_MX_TO_PDL STYPE_MX_TO_STR
);

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
use constant STYPE_MX_TO_STR => { -1 => 'undefined', 0 => 'default', 1 => 'row_sparse', 2 => 'csr' };

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
    confess($msg // 'AssertionError') unless $cond;
}

sub product
{
    my $p = 1;
    $p *= $_ for @_;
    return $p;
}

1;

__END__

=head1 NAME

AI::MXNet::Base - helpers shared by the AI::MXNet modules

=head1 FUNCTIONS

C<check_call(@result)> turns an C<AI::MXNetCAPI> result into its outputs or a C<confess> with
C<GetLastError()>. C<DTYPE_STR_TO_MX>, C<DTYPE_MX_TO_STR> map dtype names to MXNet's codes.

=cut
