// Creates or updates SCRAM-SHA-256 and SCRAM-SHA-512 credentials on the development broker, for
// scripts/kafka.sh. Run as a single-file program with the broker's own jars on the class path:
//
//   java -cp '<kafka lib>/*' scripts/KafkaScramUsers.java <bootstrap> <user>=<password> ...
//
// Why not `kafka-configs --alter --add-config SCRAM-SHA-256=[...]`: that tool lives in the
// kafka-tools jar, which the broker does not need and our Maven fetch does not bring; the Admin
// API it calls is in kafka-clients, which the broker has. `kafka-storage format --add-scram`
// would only reach a freshly formatted data dir, not a broker whose data predates its SASL
// listener. Upserting on every start is idempotent.
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

public class KafkaScramUsers {
  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: KafkaScramUsers <bootstrap> <user>=<password> ...");
      System.exit(2);
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    // One request per mechanism: the broker refuses two changes to one user in the same request.
    try (Admin admin = Admin.create(props)) {
      for (ScramMechanism mechanism : new ScramMechanism[] {ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512}) {
        List<UserScramCredentialAlteration> changes = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
          int eq = args[i].indexOf('=');
          if (eq <= 0) {
            System.err.println("expected <user>=<password>, got an argument without '='");
            System.exit(2);
          }
          changes.add(new UserScramCredentialUpsertion(args[i].substring(0, eq), new ScramCredentialInfo(mechanism, 4096), args[i].substring(eq + 1)));
        }
        admin.alterUserScramCredentials(changes).all().get(60, TimeUnit.SECONDS);
      }
    }
  }
}
