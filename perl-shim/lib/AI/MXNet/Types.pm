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

no Mouse::Util::TypeConstraints;

1;

__END__

=head1 NAME

AI::MXNet::Types - the Mouse types of AI::MXNet's signatures: C<Index>, C<DimSize>, C<Shape>,
and AI::MXNet::NDArray as a class type

=cut
