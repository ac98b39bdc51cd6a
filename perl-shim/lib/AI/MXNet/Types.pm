package AI::MXNet::Types;
use strict;
use warnings;
use Mouse::Util::TypeConstraints;

# The Mouse type names that AI::MXNet's signatures use (`method create_state(Index $index, ...)`).
# AI::MXNet::NDArray is a plain class here (AI::MXNet's is a Mouse class): it is declared so that
# unions naming it (`AI::MXNet::NDArray|ArrayRef[AI::MXNet::NDArray]`) parse as unions.
class_type 'AI::MXNet::NDArray';
subtype 'Index'    => as 'Int';
subtype 'DimSize'  => as 'Int' => where { $_ >= 0 };
subtype 'Shape'    => as 'ArrayRef[DimSize]';
subtype 'WholeDim' => as 'Str' => where { $_ eq 'X' };
subtype 'Slice'    => as 'ArrayRef[Index]|WholeDim|Index' => where { ref $_ ? @$_ > 0 : 1 };
subtype 'Dtype'    => as enum([qw(float32 float64 float16 bfloat16 uint8 int8 int32 int64
                                  bool int16 uint16 uint32 uint64)]);
subtype 'Stype'    => as enum([qw(default row_sparse csr)]);
subtype 'KVKey'    => as 'Str|ArrayRef[Str]';

no Mouse::Util::TypeConstraints;

1;

__END__

=head1 NAME

AI::MXNet::Types - the Mouse types of AI::MXNet's signatures: C<Index>, C<DimSize>, C<Shape>,
C<Slice>, C<Dtype>, C<Stype>, C<KVKey>

=cut
