package AI::MXNet::KVStoreServer;
use strict;
use warnings;
use MIME::Base64 ();
use Storable ();
use AI::MXNetCAPI;
use AI::MXNet::Base;
use AI::MXNet::KVStore;
use Mouse;

has 'kvstore' => (is => 'ro', isa => 'AI::MXNet::KVStore', required => 1);
has 'handle'  => (is => 'ro', isa => 'KVStoreHandle', lazy => 1, default => sub { shift->kvstore->handle });
has 'init_logging' => (is => 'rw', isa => 'Int', default => 0);

# Command 0 carries the optimizer a worker's set_optimizer sent: it becomes this server's updater.
sub _controller
{
    my $self = shift;
    return sub {
        my ($cmd_id, $cmd_body) = @_;
        if ($cmd_id == 0) {
            my $optimizer = Storable::thaw(MIME::Base64::decode_base64($cmd_body));
            $self->kvstore->set_optimizer($optimizer);
        }
        else {
            my $rank = $self->kvstore->rank;
            print "server $rank, unknown command ($cmd_id, $cmd_body)\n";
        }
    };
}

# Serves until the workers stop the servers; returns at once for a local store.
sub run
{
    my $self = shift;
    check_call(AI::MXNetCAPI::KVStoreRunServer($self->handle, $self->_controller));
}

# A server or scheduler process becomes a server as soon as AI::MXNet is loaded, so that one
# program serves every role (reference §6.3).
sub _init_kvstore_server_module
{
    my $is_worker = check_call(AI::MXNetCAPI::KVStoreIsWorkerNode());
    return if $is_worker;
    my $server = __PACKAGE__->new(kvstore => AI::MXNet::KVStore->create('dist'));
    $server->run;
    exit(0);
}

_init_kvstore_server_module();

no Mouse;
__PACKAGE__->meta->make_immutable;

1;

__END__

=head1 NAME

AI::MXNet::KVStoreServer - the server loop of a distributed AI::MXNet::KVStore

=head1 DESCRIPTION

When a process is not a worker (a server of a distributed job), loading AI::MXNet makes it serve:
it creates a C<dist> store and runs C<KVStoreRunServer> with a controller that installs the
optimizer each C<set_optimizer> of a worker sends (command 0), then exits when the workers stop the
servers. Worker and single-process programs are not affected.

    my $server = AI::MXNet::KVStoreServer->new(kvstore => $kv);
    $server->run;     # returns at once for a local store

=cut
