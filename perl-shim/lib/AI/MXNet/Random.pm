package AI::MXNet::Random;
use strict;
use warnings;
use Carp qw(confess);
use Scalar::Util qw(blessed looks_like_number);
use PDL::Lite;
use AI::MXNet::NDArray;

# mx->random: seed, uniform, normal, randint. The draws come from PDL's generator, so
# mx->random->seed($s) makes the following draws repeat exactly; they are not MXNet's numbers.

sub seed
{
    my ($class, $seed_state, %args) = @_;
    confess('seed: the seed must be an integer') unless defined $seed_state and $seed_state =~ /^-?\d+$/;
    my $ctx = $args{ctx} // 'all';
    confess("ctx argument could be either string 'all' or AI::MXNet::Context")
        unless $ctx eq 'all' or (blessed($ctx) and $ctx->isa('AI::MXNet::Context'));
    PDL::srand($seed_state);
    return;
}

# The options of a call: ({name => value}), (name => value, ...), or the distribution's two
# parameters first (uniform(0, 1, shape => [2])).
sub _options
{
    my ($what, $params, $defaults, @args) = @_;
    my %opt = %$defaults;
    my %given;
    if (@args == 1 and ref $args[0] eq 'HASH') {
        %given = %{ $args[0] };
    }
    else {
        for my $name (@$params) {
            last unless @args and (looks_like_number($args[0]) or blessed($args[0]));
            $given{$name} = shift @args;
        }
        confess("$what: arguments must be name => value pairs") if @args % 2;
        %given = (%given, @args);
    }
    for my $name (keys %given) {
        confess("$what: unknown argument '$name'") unless exists $opt{$name};
        $opt{$name} = $given{$name};
    }
    for my $name (@$params) {
        confess("$what: $name must be a number") unless looks_like_number($opt{$name});
    }
    return \%opt;
}

my %common = (shape => [1], ctx => undef, dtype => 'float32', out => undef, name => undef);

# Draws of the shape asked (or of out's shape), as a new array or into out => $array.
sub _result
{
    my ($opt, $draw) = @_;
    my $out = $opt->{out};
    my $shape = defined $out ? $out->shape : ref $opt->{shape} ? $opt->{shape} : [$opt->{shape}];
    confess('the shape must be an array ref of non-negative integers')
        if grep { not defined or not /^\d+$/ } @$shape;
    my $values = $draw->(PDL::double(), reverse @$shape);
    return $out->set($values) if defined $out;
    return AI::MXNet::NDArray->array($values, ($opt->{ctx} ? (ctx => $opt->{ctx}) : ()), dtype => $opt->{dtype});
}

sub uniform
{
    my $class = shift;
    my $opt = _options('uniform', [qw(low high)], { low => 0, high => 1, %common }, @_);
    return _result($opt, sub { PDL->random(@_) * ($opt->{high} - $opt->{low}) + $opt->{low} });
}

sub normal
{
    my $class = shift;
    my $opt = _options('normal', [qw(loc scale)], { loc => 0, scale => 1, %common }, @_);
    return _result($opt, sub { PDL->grandom(@_) * $opt->{scale} + $opt->{loc} });
}

sub randint
{
    my $class = shift;
    my $opt = _options('randint', [qw(low high)], { low => 0, high => 1, %common, dtype => 'int32' }, @_);
    confess('randint: high must be greater than low') unless $opt->{high} > $opt->{low};
    return _result($opt, sub { PDL::floor(PDL->random(@_) * ($opt->{high} - $opt->{low})) + $opt->{low} });
}

1;

__END__

=head1 NAME

AI::MXNet::Random - random NDArrays: C<< mx->random->seed >>, C<uniform>, C<normal>, C<randint>

=head1 SYNOPSIS

    mx->random->seed(42);
    my $w = mx->random->uniform(shape => [3, 4], ctx => mx->cpu, dtype => 'float32');
    my $g = mx->random->uniform({ low => -1, high => 1, shape => [3, 4] });
    my $n = mx->random->normal(0, 0.1, shape => [10]);
    mx->random->uniform(out => $w);          # new draws into $w

After C<seed($s)> the draws repeat exactly (one generator, PDL's, for every context); the
numbers differ from MXNet's for the same seed.

=cut
