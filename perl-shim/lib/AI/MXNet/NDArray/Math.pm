package AI::MXNet::NDArray::Math;
use strict;
use warnings;
use Carp qw(confess);
use Exporter qw(import);
use Scalar::Util qw(blessed looks_like_number);
use PDL::Lite;
use PDL::Math ();

# Element-wise math, comparisons and reductions of AI::MXNet's NDArray, computed with PDL over
# the arrays' values. AI::MXNet::NDArray imports them as methods, so each works as
# $x->sqrt, as mx->nd->sqrt($x) and with out => $array. Results keep the dtype and context of
# the first NDArray operand, as MXNet's operators do; arrays of different shapes broadcast as in
# numpy.

my %unary = (
    sqrt       => sub { PDL::sqrt($_[0]) },
    rsqrt      => sub { 1 / PDL::sqrt($_[0]) },
    square     => sub { $_[0] * $_[0] },
    abs        => sub { PDL::abs($_[0]) },
    sign       => sub { ($_[0] > 0) - ($_[0] < 0) },
    reciprocal => sub { 1 / $_[0] },
    exp        => sub { PDL::exp($_[0]) },
    log        => sub { PDL::log($_[0]) },
    sin        => sub { PDL::sin($_[0]) },
    cos        => sub { PDL::cos($_[0]) },
    tanh       => sub { PDL::Math::tanh($_[0]) },
    floor      => sub { PDL::floor($_[0]) },
    ceil       => sub { PDL::ceil($_[0]) },
    round      => sub { PDL::floor($_[0] + 0.5) },
    sigmoid    => sub { 1 / (1 + PDL::exp(-$_[0])) },
    relu       => sub { ($_[0] > 0) * $_[0] },
);

# MXNet's mod takes the sign of the divisor (Python's %), and x % 0 is 0.
sub _mod
{
    my ($a, $b) = @_;
    my $safe = $b + ($b == 0);
    return ($a - PDL::floor($a / $safe) * $safe) * ($b != 0);
}

my %binary = (
    power         => sub { $_[0] ** $_[1] },
    modulo        => \&_mod,
    equal         => sub { $_[0] == $_[1] },
    not_equal     => sub { $_[0] != $_[1] },
    greater       => sub { $_[0] > $_[1] },
    greater_equal => sub { $_[0] >= $_[1] },
    lesser        => sub { $_[0] < $_[1] },
    lesser_equal  => sub { $_[0] <= $_[1] },
    atan2         => sub { PDL::atan2($_[0], $_[1]) },
);

our @EXPORT = (sort(keys %unary), sort(keys %binary), qw(imodulo norm sum mean));

sub _is_ndarray { blessed($_[0]) and $_[0]->isa('AI::MXNet::NDArray') }

# (invocant-less arguments): mx->nd->f($x, ...) passes the class name first.
sub _args
{
    shift @_ if @_ and not ref $_[0] and defined $_[0] and UNIVERSAL::isa($_[0], 'AI::MXNet::NDArray');
    return @_;
}

sub _options
{
    my ($what, $allowed, @args) = @_;
    confess("$what: options must be name => value pairs") if @args % 2;
    my %opt = @args;
    for my $name (keys %opt) {
        confess("$what: unknown option '$name'") unless grep { $_ eq $name } @$allowed;
    }
    return \%opt;
}

# $values (a PDL) as an array like $like, or written into $out.
sub _store
{
    my ($like, $values, $out) = @_;
    my $shape = [reverse $values->dims];
    $shape = [1] unless @$shape;
    if (defined $out) {
        confess('out must be an AI::MXNet::NDArray') unless _is_ndarray($out);
        confess("the result of shape [@$shape] does not fit the array of shape [@{ $out->shape }]")
            unless "@$shape" eq "@{ $out->shape }";
        $values = $values->reshape(reverse @$shape) unless $values->ndims;
        return $out->set($values);
    }
    return AI::MXNet::NDArray->array($values, ctx => $like->context, dtype => $like->dtype);
}

sub _values { _is_ndarray($_[0]) ? $_[0]->aspdl->double : PDL::Core::pdl(PDL::double(), $_[0]) }

for my $name (keys %unary) {
    my $func = $unary{$name};
    no strict 'refs';
    *{$name} = sub {
        my ($data, @args) = _args(@_);
        confess("$name: the data must be an AI::MXNet::NDArray") unless _is_ndarray($data);
        my $opt = _options($name, [qw(out name)], @args);
        return _store($data, $func->(_values($data)), $opt->{out});
    };
}

# f($lhs, $rhs, out => ...) as a function, or f($self, $other, $swapped) as an overload.
sub _binary
{
    my ($name, $func, $lhs, $rhs, @rest) = @_;
    my $out;
    if (@rest == 1 and not ref $rest[0]) {
        ($lhs, $rhs) = ($rhs, $lhs) if $rest[0];
    }
    elsif (@rest) {
        $out = _options($name, [qw(out name)], @rest)->{out};
    }
    for ($lhs, $rhs) {
        confess("$name: operands must be AI::MXNet::NDArrays or numbers")
            unless _is_ndarray($_) or (defined and not ref and looks_like_number($_));
    }
    return $func->($lhs, $rhs) unless _is_ndarray($lhs) or _is_ndarray($rhs);
    my $like = _is_ndarray($lhs) ? $lhs : $rhs;
    if (_is_ndarray($lhs) and _is_ndarray($rhs)) {
        confess("$name: operands have different dtypes (${\ $lhs->dtype } and ${\ $rhs->dtype }); use astype")
            unless $lhs->dtype eq $rhs->dtype;
        my ($ls, $rs) = ($lhs->shape, $rhs->shape);
        AI::MXNet::NDArray::_broadcast_shape($ls, $rs)
            // confess("$name: operands could not be broadcast together with shapes [@$ls] [@$rs]");
    }
    return _store($like, $func->(_values($lhs), _values($rhs)), $out);
}

for my $name (keys %binary) {
    my $func = $binary{$name};
    no strict 'refs';
    *{$name} = sub { _binary($name, $func, _args(@_)) };
}

sub imodulo
{
    my ($self, $other) = @_;
    confess('trying to modify a readonly NDArray') unless $self->writable;
    return _binary('modulo', \&_mod, $self, $other, out => $self);
}

# The reduction over axis => $a (an index or an array ref; all axes by default, giving an array
# of shape [1]), with keepdims => 1 keeping the reduced axes as size 1.
sub _reduce
{
    my ($name, $reduce, $data, @args) = @_;
    confess("$name: the data must be an AI::MXNet::NDArray") unless _is_ndarray($data);
    my $opt = _options($name, [qw(axis keepdims out name ord)], @args);
    my $values = _values($data);
    my $ndim = $values->ndims;
    my @axes = !defined $opt->{axis} ? (0 .. $ndim - 1) : ref $opt->{axis} ? @{ $opt->{axis} } : ($opt->{axis});
    for (@axes) {
        confess("$name: axis $_ is out of range for an array of $ndim dimensions") if $_ >= $ndim or $_ < -$ndim;
        $_ += $ndim if $_ < 0;
    }
    my %reduced = map { $_ => 1 } @axes;
    # PDL reduces its first dimension: move the reduced axes there (MXNet's axis i is PDL's
    # dimension ndim-1-i), clump them into one and reduce it.
    my @pdl_axes = map { $ndim - 1 - $_ } sort { $a <=> $b } keys %reduced;
    my @kept = grep { not $reduced{ $ndim - 1 - $_ } } 0 .. $ndim - 1;
    my $moved = $values->reorder(@pdl_axes, @kept)->clump(scalar @pdl_axes);
    my $result = $reduce->($moved);
    if ($opt->{keepdims}) {
        my @dims = map { $reduced{$_} ? 1 : $data->shape->[$_] } 0 .. $ndim - 1;
        $result = $result->reshape(reverse @dims);
    }
    return _store($data, $result, $opt->{out});
}

sub sum  { _reduce('sum', sub { $_[0]->sumover }, _args(@_)) }
sub mean { _reduce('mean', sub { $_[0]->sumover / $_[0]->dim(0) }, _args(@_)) }

# The L2 norm (ord => 2, the default) or L1 norm (ord => 1).
sub norm
{
    my ($data, @args) = _args(@_);
    my %opt = @args % 2 ? () : @args;
    my $ord = $opt{ord} // 2;
    confess("norm: ord must be 1 or 2, not $ord") unless $ord eq '1' or $ord eq '2';
    return _reduce('norm', sub { PDL::abs($_[0])->sumover }, $data, @args) if $ord == 1;
    return _reduce('norm', sub { PDL::sqrt(($_[0] * $_[0])->sumover) }, $data, @args);
}

1;

__END__

=head1 NAME

AI::MXNet::NDArray::Math - element-wise math, comparisons and reductions of AI::MXNet's NDArray

=head1 SYNOPSIS

    my $r = mx->nd->sqrt($x);                 # or $x->sqrt, or sqrt($x)
    mx->nd->square($g, out => $g);            # in place
    my $m = $x % 3;  my $p = $x ** 2;  my $mask = $x > 0.5;
    my $n = $x->norm;                         # shape [1]
    my $s = mx->nd->sum($x, axis => 1, keepdims => 1);

=head1 DESCRIPTION

Functions (each also a method of L<AI::MXNet::NDArray>, and C<< mx->nd->NAME(...) >>):
C<sqrt rsqrt square abs sign reciprocal exp log sin cos tanh floor ceil round sigmoid
relu> (with C<< out => >>); C<power modulo equal not_equal greater greater_equal lesser
lesser_equal atan2> (an NDArray and a number or two NDArrays, broadcast as in numpy; two numbers
give a number); C<norm> (C<< ord => 1|2 >>), C<sum>, C<mean> (C<< axis => >>, C<< keepdims => >>).
Comparisons give 0 and 1 in the operand's dtype, as MXNet's.

=cut
