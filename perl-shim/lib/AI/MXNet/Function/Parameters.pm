package AI::MXNet::Function::Parameters;
use strict;
use warnings;
use Carp ();
use Function::Parameters ();
use Mouse::Util::TypeConstraints ();
use AI::MXNet::Types ();

# `use AI::MXNet::Function::Parameters;` gives the calling package AI::MXNet's `func` and
# `method` keywords: strict signatures whose types are Mouse type names (`Index $i`,
# `AI::MXNet::NDArray $weight`, `Maybe[Num] $x=`), checked when the sub is called.
my $reify_type = sub { Mouse::Util::TypeConstraints::find_or_create_isa_type_constraint($_[0]) };

sub import
{
    Function::Parameters->import({
        func   => { defaults => 'function_strict', runtime => 1, reify_type => $reify_type },
        method => { defaults => 'method_strict',   runtime => 1, reify_type => $reify_type },
    });
}

{
    # A bad call dies with a stack trace, as every AI::MXNet error does.
    no warnings 'redefine';
    *Function::Parameters::_croak = sub {
        local $Carp::CarpLevel = 1;
        Carp::confess("@_");
    };
}

1;

__END__

=head1 NAME

AI::MXNet::Function::Parameters - AI::MXNet's C<func> and C<method> keywords

=head1 SYNOPSIS

    use AI::MXNet::Function::Parameters;

    func scale(AI::MXNet::NDArray $x, Num $by = 2) { $x * $by }
    method create_state(Index $index, AI::MXNet::NDArray $weight) { ... }

A call whose arguments do not fit dies with Function::Parameters' message, for example
C<In method push: parameter 1 ($key): Validation failed for 'ArrayRef[Str]|Str' with value ...>.

=cut
