package AI::MXNet::KVStore;
use strict;
use warnings;
use Carp qw(confess);
use Scalar::Util qw(blessed);
use File::Temp ();
use MIME::Base64 ();
use Storable ();
use AI::MXNetCAPI;
use AI::MXNet::Base qw(check_call assert);
use AI::MXNet::NDArray;
use AI::MXNet::Optimizer;
use Mouse;

# The store's handle frees the store when the last reference to it goes.
has 'handle'   => (is => 'ro', isa => 'KVStoreHandle', required => 1);
has '_updater' => (is => 'rw', isa => 'Maybe[AI::MXNet::Updater]');
# The optimizer the store runs natively (set_optimizer on a local store), whose states live in
# the library.
has '_native_optimizer' => (is => 'rw', isa => 'Maybe[AI::MXNet::Optimizer]');

sub create
{
    my ($class, $name) = @_;
    $name //= 'local';
    my $handle = check_call(AI::MXNetCAPI::KVStoreCreate($name));
    return __PACKAGE__->new(handle => $handle);
}

# Takes the named options of @$args (defaults in %$defaults); dies on unknown ones.
sub _options
{
    my ($method, $defaults, $args) = @_;
    confess("$method: arguments after the key must be name => value pairs") if @$args % 2;
    my %args = @$args;
    my @values = map { exists $args{$_} ? delete $args{$_} : $defaults->{$_} } keys %$defaults;
    confess("$method: unknown argument(s): @{[ sort keys %args ]}") if %args;
    my %opt;
    @opt{ keys %$defaults } = @values;
    return \%opt;
}

# init, push and pull take AI::MXNet's arguments. The everyday call (one key and one NDArray, no
# option but out =>) goes straight to the library; every other call goes through AI::MXNet's
# signatures (AI::MXNet::KVStore::Signature below), so a call that does not fit dies with
# AI::MXNet's message (In method push: parameter 2 ($value): Validation failed ...) before anything
# is stored, and the everyday call does not pay for the checks.
sub _one_pair { defined $_[0] and not ref $_[0] and _is_ndarray($_[1]) }

sub init
{
    my ($self, $key, $value) = @_;
    my ($keys, $vals) = @_ == 3 && _one_pair($key, $value)
        ? (["$key"], [$value->{handle}])
        : AI::MXNet::KVStore::Signature->init(@_[1 .. $#_]);
    check_call(AI::MXNetCAPI::KVStoreInitEx($self->handle, scalar(@$keys), $keys, $vals));
}

sub push
{
    my ($self, $key, $value) = @_;
    my ($keys, $vals, $priority) = @_ == 3 && _one_pair($key, $value)
        ? (["$key"], [$value->{handle}], 0)
        : AI::MXNet::KVStore::Signature->push(@_[1 .. $#_]);
    check_call(AI::MXNetCAPI::KVStorePushEx($self->handle, scalar(@$keys), $keys, $vals, $priority));
}

sub pull
{
    my ($self, $key) = @_;
    my ($keys, $vals, $priority, $ignore_sparse) = @_ == 4 && ($_[2] // '') eq 'out' && _one_pair($key, $_[3])
        ? (["$key"], [$_[3]{handle}], 0, 1)
        : AI::MXNet::KVStore::Signature->pull(@_[1 .. $#_]);
    check_call(AI::MXNetCAPI::KVStorePullWithSparseEx(
        $self->handle, scalar(@$keys), $keys, $vals, $priority, $ignore_sparse ? 1 : 0));
}

sub row_sparse_pull
{
    my ($self, $key, @args) = @_;
    my $opt = _options('row_sparse_pull', { out => undef, priority => 0, row_ids => undef }, \@args);
    my ($out, $row_ids) = @$opt{qw(out row_ids)};
    confess('row_sparse_pull: out => and row_ids => are required') unless defined $out and defined $row_ids;
    confess('row_sparse_pull: this build of mxkv has no row_sparse storage')
        unless AI::MXNetCAPI->can('KVStorePullRowSparseEx');
    $row_ids = [$row_ids] if blessed $row_ids;
    # One set of row ids for several outputs: pull once, then copy to the others.
    my $single_rowid = (@$row_ids == 1 and ref $out eq 'ARRAY');
    my $first_out = $single_rowid ? [$out->[0]] : $out;
    my ($keys, $vals) = _key_value($key, $first_out);
    my (undef, $rows) = _key_value($key, $row_ids);
    assert(@$rows == @$vals, "the number of row_ids doesn't match the number of values");
    check_call(AI::MXNetCAPI::KVStorePullRowSparseEx(
        $self->handle, scalar(@$keys), $keys, $vals, $rows, $opt->{priority}));
    if ($single_rowid) {
        $out->[0]->copyto($_) for @{$out}[1 .. $#$out];
    }
}

sub set_gradient_compression
{
    my ($self, $compression_params) = @_;
    confess('set_gradient_compression: the parameters must be a hash ref')
        unless ref $compression_params eq 'HASH';
    confess('Gradient compression is not supported for this type of kvstore')
        unless $self->type =~ /(?:device|dist)/;
    check_call(AI::MXNetCAPI::KVStoreSetGradientCompression(
        $self->handle, scalar(keys %$compression_params), $compression_params));
}

# On a dist worker the optimizer travels to the servers (command 0, a base64 Storable image,
# restored by AI::MXNet::KVStoreServer); otherwise it becomes this store's updater.
sub set_optimizer
{
    my ($self, $optimizer) = @_;
    confess('set_optimizer: expected an AI::MXNet::Optimizer')
        unless blessed($optimizer) and $optimizer->isa('AI::MXNet::Optimizer');
    my $is_worker = check_call(AI::MXNetCAPI::KVStoreIsWorkerNode());
    # Without servers (DMLC_NUM_SERVER=0) every worker applies it to the allreduced sum.
    my $serverless = ($ENV{DMLC_NUM_SERVER} // '') eq '0';
    if ($self->type =~ /dist/ and $is_worker and not $serverless) {
        my $body = MIME::Base64::encode_base64(Storable::freeze($optimizer), '');
        $self->_send_command_to_servers(0, $body);
    }
    elsif (my ($name, $keys, $vals) = $optimizer->_native_form) {
        # The store (local, a server's, or a serverless worker's) runs the optimizer in the
        # library and keeps its states there.
        check_call(AI::MXNetCAPI::KVStoreSetOptimizer($self->handle, $name, scalar(@$keys), $keys, $vals));
        $self->_updater(undef);
        $self->_native_optimizer($optimizer);
        $optimizer->_runs_natively_in($self);
    }
    else {
        $self->_set_updater(AI::MXNet::Optimizer->get_updater($optimizer));
    }
}

# Installs the native optimizer again after its learning rate changed, with its states and
# update counts, which go through a .params file.
sub _install_native_again
{
    my $self = shift;
    my $optimizer = $self->_native_optimizer;
    my ($name, $keys, $vals) = $optimizer->_native_form
        or confess(ref($optimizer) . ' cannot run natively any more; set_optimizer it again');
    my $file = File::Temp->new(SUFFIX => '.params');
    check_call(AI::MXNetCAPI::KVStoreSaveOptimizerStates($self->handle, $file->filename));
    check_call(AI::MXNetCAPI::KVStoreSetOptimizer($self->handle, $name, scalar(@$keys), $keys, $vals));
    check_call(AI::MXNetCAPI::KVStoreLoadOptimizerStates($self->handle, $file->filename));
}

sub type        { scalar(check_call(AI::MXNetCAPI::KVStoreGetType($_[0]->handle))) }
sub rank        { scalar(check_call(AI::MXNetCAPI::KVStoreGetRank($_[0]->handle))) }
sub num_workers { scalar(check_call(AI::MXNetCAPI::KVStoreGetGroupSize($_[0]->handle))) }

# A native optimizer's states go to MXNet's .params format (per key `<index>:<state>` arrays and
# counts); a Perl updater's to a Storable image, with the optimizer when dump_optimizer is true.
sub save_optimizer_states
{
    my ($self, $fname, @args) = @_;
    my $opt = _options('save_optimizer_states', { dump_optimizer => 0 }, \@args);
    if ($self->_native_optimizer) {
        confess('save_optimizer_states: dump_optimizer => 1 needs a Perl updater: the store runs '
            . ref($self->_native_optimizer) . ' natively and saves its states in MXNet\'s .params '
            . 'format, which holds no optimizer') if $opt->{dump_optimizer};
        check_call(AI::MXNetCAPI::KVStoreSaveOptimizerStates($self->handle, $fname));
        return;
    }
    confess('Cannot save states for distributed training') unless defined $self->_updater;
    open(my $fh, '>:raw', $fname) or confess("can't open $fname for writing: $!");
    print {$fh} $self->_updater->get_states($opt->{dump_optimizer});
    close($fh) or confess("can't write $fname: $!");
}

sub load_optimizer_states
{
    my ($self, $fname) = @_;
    if ($self->_native_optimizer) {
        check_call(AI::MXNetCAPI::KVStoreLoadOptimizerStates($self->handle, $fname));
        return;
    }
    confess('Cannot load states for distributed training') unless defined $self->_updater;
    open(my $fh, '<:raw', $fname) or confess("can't open $fname for reading: $!");
    my $data = do { local $/; <$fh> };
    close($fh);
    $self->_updater->set_states($data);
}

# The library calls the int-key updater with the key's internal index (string keys are numbered
# in the order they were first initialised, reference §6.2), and hands over the two handles.
sub _set_updater
{
    my ($self, $updater) = @_;
    confess('the updater must be a code ref or an AI::MXNet::Updater')
        unless not defined $updater or ref $updater eq 'CODE'
            or (blessed($updater) and $updater->isa('AI::MXNet::Updater'));
    my $call = defined $updater ? sub {
        my ($index, $input_handle, $storage_handle) = @_;
        $updater->(
            $index,
            AI::MXNet::NDArray->_ndarray_cls($input_handle),
            AI::MXNet::NDArray->_ndarray_cls($storage_handle),
        );
    } : undef;
    check_call(AI::MXNetCAPI::KVStoreSetUpdater($self->handle, $call));
    $self->_native_optimizer(undef);
    $self->_updater(blessed($updater) ? $updater : undef);
}

sub _barrier { check_call(AI::MXNetCAPI::KVStoreBarrier($_[0]->handle)) }

sub _send_command_to_servers
{
    my ($self, $head, $body) = @_;
    check_call(AI::MXNetCAPI::KVStoreSendCommmandToServers($self->handle, $head, $body));
}

sub _is_ndarray { blessed($_[0]) and $_[0]->isa('AI::MXNet::NDArray') }

# (key, value) arguments to the flat lists of the C API: a key with an NDArray, a key with
# several NDArrays (one per device: the key repeats), or an array ref of keys with one such
# value per key. Keys are sent as strings. Values that do not line up with the keys die with
# AI::MXNet's AssertionError, followed by what is wrong.
sub _key_value
{
    my ($keys, $vals) = @_;
    if (not ref $keys) {
        confess('a key must be defined') unless defined $keys;
        return (["$keys"], [$vals->{handle}]) if _is_ndarray($vals);
        assert(ref $vals eq 'ARRAY' && @$vals && !grep({ not _is_ndarray($_) } @$vals),
            "AssertionError: the value of key '$keys' must be an NDArray or an array ref of NDArrays");
        return ([("$keys") x @$vals], [map { $_->{handle} } @$vals]);
    }
    confess('keys must be a key or an array ref of keys') unless ref $keys eq 'ARRAY';
    assert(ref $vals eq 'ARRAY' && !blessed($vals) && @$keys == @$vals,
        'AssertionError: with an array ref of keys, the values must be an array ref with one entry per key');
    my (@c_keys, @c_vals);
    for my $i (0 .. $#$keys) {
        confess('keys must be strings or numbers') if ref $keys->[$i];
        my ($c_key, $c_val) = _key_value($keys->[$i], $vals->[$i]);
        CORE::push(@c_keys, @$c_key);
        CORE::push(@c_vals, @$c_val);
    }
    return (\@c_keys, \@c_vals);
}

no Mouse;
__PACKAGE__->meta->make_immutable;

# AI::MXNet's signatures of KVStore init, push and pull (their types, defaults and messages):
# each checks a call and gives the flat key and handle lists, then the options.
package AI::MXNet::KVStore::Signature;
use AI::MXNet::Function::Parameters;

method init(
    Str|ArrayRef[Str] $key,
    AI::MXNet::NDArray|ArrayRef[AI::MXNet::NDArray]|ArrayRef[ArrayRef[AI::MXNet::NDArray]] $value
)
{
    return AI::MXNet::KVStore::_key_value($key, $value);
}

method push(
    Str|ArrayRef[Str] $key,
    AI::MXNet::NDArray|ArrayRef[AI::MXNet::NDArray]|ArrayRef[ArrayRef[AI::MXNet::NDArray]] $value,
    Int :$priority=0
)
{
    return (AI::MXNet::KVStore::_key_value($key, $value), $priority);
}

method pull(
    Str|ArrayRef[Str] $key,
    AI::MXNet::NDArray|ArrayRef[AI::MXNet::NDArray]|ArrayRef[ArrayRef[AI::MXNet::NDArray]] :$out,
    Int :$priority=0,
    Bool :$ignore_sparse=1
)
{
    return (AI::MXNet::KVStore::_key_value($key, $out), $priority, $ignore_sparse);
}

1;

__END__

=head1 NAME

AI::MXNet::KVStore - the key-value store of AI::MXNet, on mxkv

=head1 SYNOPSIS

    use AI::MXNet qw(mx);

    my $shape = [2, 3];
    my $kv = mx->kv->create('local');

    # init a single key-value pair
    $kv->init(3, mx->nd->ones($shape) * 2);
    my $a = mx->nd->zeros($shape);
    $kv->pull(3, out => $a);
    print $a->aspdl;                  # [[2 2 2] [2 2 2]]

    # init a list of key-value pairs
    my $keys = [5, 7, 9];
    $kv->init($keys, [map { mx->nd->ones($shape) } @$keys]);

    # push a single pair, pull it back
    $kv->push(3, mx->nd->ones($shape) * 8);
    $kv->pull(3, out => $a);          # all 8

    # aggregate the values pushed from several devices
    my @devs = map { mx->cpu($_) } 0 .. 3;
    my $b = [map { mx->nd->ones($shape, ctx => $_) } @devs];
    $kv->push(3, $b);
    $kv->pull(3, out => $a);          # all 4

    # pull into several devices at once
    $kv->pull(3, out => $b);          # each all 4

    # lists of keys, one device or several
    $kv->push($keys, [map { mx->nd->ones($shape) } @$keys]);
    my $outs = [map { mx->nd->zeros($shape) } @$keys];
    $kv->pull($keys, out => $outs);   # each all 1
    $kv->push($keys, [map { [map { mx->nd->ones($shape, ctx => $_) } @devs] } @$keys]);

    # an updater: called with the key's index, the pushed sum and the stored value
    $kv->_set_updater(sub {
        my ($index, $input, $stored) = @_;
        $stored += $input * 2;
    });
    $kv->push(3, mx->nd->ones($shape));
    $kv->pull(3, out => $a);          # 4 + 2 = 6

    # an optimizer instead of a hand-written updater, and its state on disk
    $kv->set_optimizer(mx->optimizer->SGD(learning_rate => 0.1, momentum => 0.9));
    $kv->save_optimizer_states('kv.states');
    $kv->load_optimizer_states('kv.states');

    print $kv->type, ' ', $kv->rank, ' ', $kv->num_workers, "\n";   # local 0 1

=head1 METHODS

C<create($name = 'local')>, C<init($key, $value)>, C<< push($key, $value, priority => 0) >>,
C<< pull($key, out => $out, priority => 0, ignore_sparse => 1) >>,
C<< row_sparse_pull($key, out => $out, row_ids => $ids, priority => 0) >> (when the library has
row_sparse storage), C<set_gradient_compression(\%params)> (C<device> and C<dist> stores),
C<set_optimizer($optimizer)>, C<type>, C<rank>, C<num_workers>,
C<< save_optimizer_states($fname, dump_optimizer => 0) >>, C<load_optimizer_states($fname)>,
C<_set_updater($code_or_updater)> (C<undef> removes it), C<_barrier>,
C<_send_command_to_servers($head, $body)>.

A key is a string or a number (sent as a string); a value is an NDArray, an array ref of
NDArrays (the same key from several devices: pushes are summed, pulls fill each one), or, with an
array ref of keys, an array ref holding one such value per key.

As in MXNet, the updater's first argument is the key's internal index: keys are numbered 0, 1, 2 ...
in the order they were first initialised, so after C<init(3, ...)> and C<init([5, 7, 9], ...)> key 9
arrives as 3. A C<die> in the updater makes the push die with
C<MXNetError: Perl updater died: ...>; keys after the failing one keep their values.

=cut
